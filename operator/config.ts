import { hostname } from 'node:os';
import { z } from 'zod';
import { logLevel, port } from '../runtime/core/config/fields.ts';

/** The operator's environment. */
export const operatorEnv = z.object({
  /** Empty: every namespace (needs the ClusterRole); set: only this namespace. */
  WATCH_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9-]{1,63}$/)
    .optional(),
  OPS_PORT: port.default(9470),
  OPS_HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: logLevel.default('info'),
  LEADER_ELECTION_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9-]{1,63}$/)
    .default('default'),
  LEADER_ELECTION_NAME: z
    .string()
    .regex(/^[a-z0-9.-]{1,253}$/)
    .default('payment-pipeline-operator'),
  /** Unique per replica: the pod name in a cluster (downward API), host+pid elsewhere. */
  POD_NAME: z.string().min(1).default(`${hostname()}-${process.pid}`),
  LEASE_DURATION_SECONDS: z.coerce.number().int().min(2).max(300).default(15),
  RENEW_DEADLINE_SECONDS: z.coerce.number().int().min(1).max(299).default(10),
  RETRY_PERIOD_SECONDS: z.coerce.number().int().min(1).max(60).default(2),
  RECONCILE_WORKERS: z.coerce.number().int().min(1).max(32).default(2),
  /** Watches are closed by the server after this long and resumed from their resourceVersion. */
  WATCH_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(29).default(25),
  RESYNC_SECONDS: z.coerce.number().int().min(10).max(86400).default(600),
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(20),
});

export type OperatorEnv = z.infer<typeof operatorEnv>;
