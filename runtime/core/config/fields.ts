import { z } from 'zod';
import { mysqlTlsOf } from '../db/tls.ts';
import { parseRedisUrl, REDIS_MODES, type RedisMode, RedisUrlError, redisConnection } from '../redis/url.ts';

// Field schemas shared by the services' env parsing and the PaymentPipeline CRD, so both agree.

/** An integer of at least 1 (a count, a size, a duration that cannot be zero). */
export const positiveInt = z.coerce.number().int().min(1);

/** An integer of at least 0 (where 0 means none or off, as the field's comment says). */
export const nonNegativeInt = z.coerce.number().int().min(0);

export const port = positiveInt.max(65535);

export const mysqlUrl = z
  .string()
  .url()
  .refine((u) => /^mysql:\/\//.test(u), 'must be a mysql:// URL')
  .superRefine((u, ctx) => {
    // The TLS parameters (ssl-mode, ssl-ca...) are checked at start: a wrong path is a config error.
    try {
      mysqlTlsOf(new URL(u));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  });

/** `redis[s]://[[user]:password@]host[:port][,host[:port]...][/db]` (several hosts: Sentinels). */
export const redisUrl = z.string().superRefine((url, ctx) => {
  try {
    parseRedisUrl(url);
  } catch (err) {
    if (!(err instanceof RedisUrlError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
});

/** Master group name the Sentinels monitor (`sentinel monitor <name> ...`). */
export const redisSentinelMaster = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and _ . : -');

/** How REDIS_URL's hosts are reached: standalone, Sentinel or Redis Cluster seed nodes (url.ts). */
export const redisMode = z.enum(REDIS_MODES);

type RedisEnv = {
  REDIS_URL: string;
  REDIS_TLS_CA_FILE?: string | undefined;
  REDIS_TLS_CA_PEM?: string | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_MODE?: RedisMode | undefined;
  REDIS_SENTINEL_TLS?: boolean | undefined;
  REDIS_SENTINEL_USERNAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
};

/**
 * For an env schema: REDIS_URL and REDIS_SENTINEL_MASTER must agree (several hosts are Sentinels and
 * need the master's name; Sentinels need their ports). Runs even when other variables are invalid,
 * so one start lists every problem.
 */
export function redisConnectionRule<T extends RedisEnv>(): [
  (env: T, ctx: z.RefinementCtx<T>) => void,
  { when: (payload: { issues: { path?: PropertyKey[] }[] }) => boolean },
] {
  const check = (env: T, ctx: z.RefinementCtx<T>) => {
    try {
      const c = redisConnection(env.REDIS_URL, env.REDIS_SENTINEL_MASTER, env.REDIS_MODE);
      const sentinelOnly = (
        ['REDIS_SENTINEL_TLS', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const
      ).filter((name) => env[name] !== undefined);
      if (c.kind !== 'sentinel' && sentinelOnly.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [sentinelOnly[0] as string],
          message: `${sentinelOnly.join(', ')} only apply with REDIS_SENTINEL_MASTER (Sentinel mode)`,
        });
      if (env.REDIS_TLS_CA_FILE !== undefined && env.REDIS_TLS_CA_PEM !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['REDIS_TLS_CA_PEM'],
          message: 'set only one of REDIS_TLS_CA_FILE and REDIS_TLS_CA_PEM',
        });
      if (env.REDIS_SENTINEL_PASSWORD === undefined && env.REDIS_SENTINEL_USERNAME !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['REDIS_SENTINEL_PASSWORD'],
          message: 'REDIS_SENTINEL_USERNAME needs REDIS_SENTINEL_PASSWORD',
        });
    } catch (err) {
      if (!(err instanceof RedisUrlError)) throw err;
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: err.message });
    }
  };
  const redisFields = new Set<PropertyKey>(['REDIS_URL', 'REDIS_SENTINEL_MASTER', 'REDIS_MODE']);
  return [check, { when: (p) => !p.issues.some((i) => redisFields.has(i.path?.[0] ?? '')) }];
}

/** host:port[,host:port...] */
export const kafkaBrokers = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, 'must be host:port[,host:port...]')
  .transform((s) => s.split(','));

/** Kafka topic names allow [a-zA-Z0-9._-]; the prefix is joined with '.'. */
export const topicPrefix = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'letters, digits, _ and -, dot-separated');

/** MySQL identifiers we accept for databases and tables (no quoting games). */
export const sqlIdentifier = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and _ (max 64)');

export const redisKeyPrefix = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -');

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const startFromKind = z.enum(['earliest', 'latest', 'timestamp', 'position', 'gtid']);

export const boolFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * How to reach the Sentinels themselves (the URL's TLS and credentials are the master's): TLS with
 * REDIS_TLS_CA_FILE, and the ACL user a Sentinel with `requirepass` / `user` lines asks for.
 */
export const redisTlsFields = {
  /** rediss:// only: the CA of the server's certificate as a PEM file; unset: the system trust store. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /** The same as PEM text (what a Secret's key gives a pod as an env variable). */
  REDIS_TLS_CA_PEM: z
    .string()
    .includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' })
    .optional(),
};

export const redisSentinelFields = {
  REDIS_SENTINEL_TLS: boolFromEnv.optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
};

export const csvList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0),
);
