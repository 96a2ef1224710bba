import { hostname } from 'node:os';
import { z } from 'zod';
import { camelConfig, type Env, parseEnv } from '../runtime/core/config/env.ts';
import { csvList, logLevel, nonNegativeInt, port, positiveInt } from '../runtime/core/config/fields.ts';
import {
  kafkaSecurityFields,
  kafkaSecurityOf,
  kafkaSecurityRule,
} from '../runtime/core/config/kafka-security.ts';

/** The operator's environment. */
export const operatorEnv = z
  .object({
    /**
     * Comma-separated namespaces to watch (the chart's default: its own); unset or empty: every
     * namespace, which needs cluster-wide RBAC.
     */
    WATCH_NAMESPACE: csvList
      .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)))
      .default([]),
    /**
     * Images a PaymentPipeline may run (operator/policy.ts): `repo`, `repo:tag`, `repo@digest` or
     * `prefix/*`, comma-separated; empty: any. Pipelines asking for another are refused (ImageNotAllowed).
     */
    ALLOWED_IMAGES: csvList.default([]),
    /** MySQL hosts a PaymentPipeline may name: `host` or `*.domain`, comma-separated; empty: any. */
    ALLOWED_MYSQL_HOSTS: csvList.default([]),
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
    LEASE_DURATION_SECONDS: positiveInt.min(2).max(300).default(15),
    RENEW_DEADLINE_SECONDS: positiveInt.max(299).default(10),
    RETRY_PERIOD_SECONDS: positiveInt.max(60).default(2),
    RECONCILE_WORKERS: positiveInt.max(32).default(2),
    /** Watches are closed by the server after this long and resumed from their resourceVersion. */
    WATCH_TIMEOUT_SECONDS: positiveInt.max(29).default(25),
    RESYNC_SECONDS: positiveInt.min(10).max(86400).default(600),
    SHUTDOWN_TIMEOUT_SECONDS: positiveInt.max(300).default(20),
    /** Background duties (docs/operator-duties.md): consumer autoscaling and binlog-position management. */
    /** Comma-separated: autoscaler, binlog, or none. */
    OPERATOR_DUTIES: csvList
      .pipe(z.array(z.enum(['autoscaler', 'binlog', 'none'])))
      .default(['autoscaler', 'binlog']),
    /** How often each pipeline's consumer lag is read and the replica count decided. */
    AUTOSCALE_INTERVAL_SECONDS: positiveInt.max(3600).default(15),
    /** Total lag at or below which lag does not drive scaling (replicas settle at minReplicas). */
    AUTOSCALE_ACTIVATION_LAG: nonNegativeInt.default(0),
    /** How often the producer's checkpoint is read and checked against the source's binlogs. */
    POSITION_REFRESH_SECONDS: positiveInt.max(3600).default(15),
    /**
     * The operator's own Kafka identity (lag and checkpoint reads for every pipeline): describe
     * groups and read the checkpoint topics; the same variables as the services.
     */
    ...kafkaSecurityFields,
  })
  .superRefine(...kafkaSecurityRule())
  // The config object: WATCH_NAMESPACE → watchNamespace, OPERATOR_DUTIES → duties... (core/config/env.ts).
  // Durations come out in milliseconds, the operator's unit inside; the variables keep their seconds.
  // WATCH_TIMEOUT_SECONDS stays in seconds: it is the API server's own watch parameter.
  .transform((env) => {
    const {
      LEASE_DURATION_SECONDS,
      RENEW_DEADLINE_SECONDS,
      RETRY_PERIOD_SECONDS,
      RESYNC_SECONDS,
      SHUTDOWN_TIMEOUT_SECONDS,
      AUTOSCALE_INTERVAL_SECONDS,
      POSITION_REFRESH_SECONDS,
      ...rest
    } = env;
    return {
      ...camelConfig(rest, 'OPERATOR_'),
      leaseDurationMs: LEASE_DURATION_SECONDS * 1000,
      renewDeadlineMs: RENEW_DEADLINE_SECONDS * 1000,
      retryPeriodMs: RETRY_PERIOD_SECONDS * 1000,
      resyncMs: RESYNC_SECONDS * 1000,
      shutdownTimeoutMs: SHUTDOWN_TIMEOUT_SECONDS * 1000,
      autoscaleIntervalMs: AUTOSCALE_INTERVAL_SECONDS * 1000,
      positionRefreshMs: POSITION_REFRESH_SECONDS * 1000,
      /** The Kafka clients' TLS/SASL settings (certificate files read once, here). */
      kafkaSecurity: kafkaSecurityOf(env),
    };
  });

export type OperatorConfig = z.infer<typeof operatorEnv>;

export const loadOperatorConfig = (env: Env): OperatorConfig => parseEnv(operatorEnv, env);
