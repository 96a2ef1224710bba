import { z } from 'zod';
import { camelConfig, type Env, parseEnv } from '../core/config/env.ts';
import {
  boolFromEnv,
  kafkaBrokers,
  logLevel,
  mysqlUrl,
  nonNegativeInt,
  port,
  positiveInt,
  redisConnectionRule,
  redisKeyPrefix,
  redisMode,
  redisSentinelFields,
  redisSentinelMaster,
  redisTlsFields,
  redisUrl,
  sqlIdentifier,
  topicPrefix,
} from '../core/config/fields.ts';
import { kafkaSecurityFields, kafkaSecurityOf, kafkaSecurityRule } from '../core/config/kafka-security.ts';
import { USER_ID_PATTERN } from '../core/ids.ts';

const cache = {
  REDIS_URL: redisUrl,
  ...redisTlsFields,
  /** Set: REDIS_URL names Sentinels and this is the master group they monitor. */
  REDIS_SENTINEL_MASTER: redisSentinelMaster.optional(),
  ...redisSentinelFields,
  /** standalone | sentinel | cluster (REDIS_URL then names seed nodes); default from REDIS_SENTINEL_MASTER. */
  REDIS_MODE: redisMode.optional(),
  TOPIC_PREFIX: topicPrefix,
  /** Defaults to TOPIC_PREFIX, so the api and the consumer agree without extra settings. */
  REDIS_KEY_PREFIX: redisKeyPrefix.optional(),
  LOG_LEVEL: logLevel.default('info'),
};

const withKeyPrefix = <T extends { TOPIC_PREFIX: string; REDIS_KEY_PREFIX?: string | undefined }>(
  env: T,
) => ({
  ...env,
  REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX ?? env.TOPIC_PREFIX,
});

/** `rebuild`, `verify` and `repair`: MySQL is the source of truth they read. */
const tool = { ...cache, MYSQL_URL: mysqlUrl };

export const toolEnvSchema = z
  .object(tool)
  .superRefine(...redisConnectionRule())
  .transform((env) => camelConfig(withKeyPrefix(env)));
export type ToolConfig = z.infer<typeof toolEnvSchema>;
export const loadToolConfig = (env: Env): ToolConfig => parseEnv(toolEnvSchema, env);

/** `make repair USER_ID=...`: the one user whose cache is rebuilt. */
export const repairEnvSchema = z
  .object({ ...tool, USER_ID: z.string().regex(USER_ID_PATTERN, 'not a user id') })
  .superRefine(...redisConnectionRule())
  .transform((env) => camelConfig(withKeyPrefix(env)));
export const loadRepairConfig = (env: Env) => parseEnv(repairEnvSchema, env);

/** `make verify`: VERIFY_WAIT_SECONDS re-checks for a while first, for a pipeline still catching up. */
export const verifyEnvSchema = z
  .object({ ...tool, VERIFY_WAIT_SECONDS: z.coerce.number().min(0).max(3600).default(0) })
  .superRefine(...redisConnectionRule())
  // Milliseconds like the consumer's other durations; the variable keeps its seconds.
  .transform(({ VERIFY_WAIT_SECONDS, ...env }) => ({
    ...camelConfig(withKeyPrefix(env)),
    verifyWaitMs: VERIFY_WAIT_SECONDS * 1000,
  }));
export const loadVerifyConfig = (env: Env) => parseEnv(verifyEnvSchema, env);

export const consumerEnvSchema = z
  .object({
    ...cache,
    KAFKA_BROKERS: kafkaBrokers,
    ...kafkaSecurityFields,
    /** Defaults to `<TOPIC_PREFIX>.consumer`. */
    CONSUMER_GROUP: z.string().min(1).max(249).optional(),
    /** Source database of the topics `<prefix>.<db>.<table>`; defaults to the database of MYSQL_URL. */
    SOURCE_DATABASE: sqlIdentifier.optional(),
    /** Needed for the automatic rebuild of an empty Redis at start-up. */
    MYSQL_URL: mysqlUrl.optional(),
    CONSUMER_AUTO_REBUILD: boolFromEnv.default(true),
    CONSUMER_METRICS_PORT: port.default(9102),
    /** 0.0.0.0 in a pod, so the kubelet's probes and Prometheus reach the ops server. */
    CONSUMER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    /** Used only to create missing topics; the same variables and defaults as the producer. */
    TOPIC_PARTITIONS: positiveInt.max(1000).default(6),
    TOPIC_REPLICATION_FACTOR: positiveInt.max(7).default(1),
    /**
     * How long the group waits for a member that stopped heartbeating (e.g. kill -9) before its
     * partitions move; also how long a restarted consumer may wait to rejoin.
     */
    CONSUMER_SESSION_TIMEOUT_MS: positiveInt.min(6000).max(300_000).default(10_000),
    /**
     * Longest wait between two attempts to rejoin Kafka after losing it (capped exponential backoff
     * from 0.5 s); the consumer keeps trying for as long as the broker is away.
     */
    CONSUMER_KAFKA_RECONNECT_MAX_MS: positiveInt.min(100).max(300_000).default(10_000),
    /**
     * Redis replicas that must acknowledge a batch (WAIT) before its offsets are committed, so a
     * Sentinel or cluster failover cannot lose applied writes (on a cluster: on every master the batch
     * wrote to). Default 1 with REDIS_SENTINEL_MASTER or REDIS_MODE=cluster, else 0 (off).
     */
    CONSUMER_REDIS_WAIT_REPLICAS: nonNegativeInt.max(16).optional(),
    /** How long one WAIT for the replicas may take before the batch is applied and confirmed again. */
    CONSUMER_REDIS_WAIT_TIMEOUT_MS: positiveInt.min(10).max(60_000).default(1000),
    /** Most messages applied per Redis round trip. */
    CONSUMER_BATCH_MAX: positiveInt.max(10_000).default(500),
    /** Most batches applied at once (offsets still committed in order); >1 for a Redis far away. */
    CONSUMER_APPLY_DEPTH: positiveInt.max(16).default(1),
    /**
     * Continuous consistency check: most sampled rows checked per second, i.e. most MySQL primary-key
     * point reads per second it adds (needs MYSQL_URL). 0 = off.
     */
    CONSISTENCY_CHECK_RATE: z.coerce.number().min(0).max(1000).default(5),
    /** How long after applying a change its row is compared with MySQL. */
    CONSISTENCY_CHECK_GRACE_MS: positiveInt.min(100).max(3_600_000).default(5000),
    /** Most sampled rows waiting for their check (or still inconsistent); bounds the checker's memory. */
    CONSISTENCY_CHECK_MAX_PENDING: positiveInt.max(100_000).default(1000),
  })
  .superRefine(...redisConnectionRule())
  .superRefine(...kafkaSecurityRule())
  .transform(withKeyPrefix)
  .transform((env, ctx) => {
    const database = env.SOURCE_DATABASE ?? (env.MYSQL_URL ? new URL(env.MYSQL_URL).pathname.slice(1) : '');
    if (!database) {
      ctx.addIssue({
        code: 'custom',
        path: ['SOURCE_DATABASE'],
        message: 'set SOURCE_DATABASE or MYSQL_URL',
      });
      return z.NEVER;
    }
    if (env.CONSUMER_AUTO_REBUILD && !env.MYSQL_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['MYSQL_URL'],
        message: 'required when CONSUMER_AUTO_REBUILD is on',
      });
      return z.NEVER;
    }
    // The config object: CONSUMER_BATCH_MAX → batchMax, TOPIC_PREFIX → topicPrefix... (core/config/env.ts).
    return {
      ...camelConfig(
        {
          ...env,
          SOURCE_DATABASE: database,
          CONSUMER_REDIS_WAIT_REPLICAS:
            env.CONSUMER_REDIS_WAIT_REPLICAS ??
            (env.REDIS_SENTINEL_MASTER || env.REDIS_MODE === 'cluster' ? 1 : 0),
          CONSUMER_GROUP: env.CONSUMER_GROUP ?? `${env.TOPIC_PREFIX}.consumer`,
        },
        'CONSUMER_',
      ),
      /** The Kafka clients' TLS/SASL settings (certificate files read once, here). */
      kafkaSecurity: kafkaSecurityOf(env),
    };
  });
export type ConsumerConfig = z.infer<typeof consumerEnvSchema>;
export const loadConsumerConfig = (env: Env): ConsumerConfig => parseEnv(consumerEnvSchema, env);
