import type { Registry } from 'prom-client';
import { backoffDelay, sleep } from '../core/backoff.ts';
import { readSourceState } from '../core/binlog/source.ts';
import { CACHED_TABLES, type CachedTable } from '../core/cache/rows.ts';
import { CacheWriter } from '../core/cache/writer.ts';
import { createPool, type Pool } from '../core/db/pool.ts';
import { topicName } from '../core/events/envelope.ts';
import {
  accessErrorMessage,
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  type GroupConsumer,
  isAccessError,
} from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import type { Readiness } from '../core/metrics.ts';
import { createRedis } from '../core/redis/connect.ts';
import { withTimeout } from '../core/timeout.ts';
import { appliedPositionRecorder } from './applied-position.ts';
import { type BatchRunner, runBatches } from './batches.ts';
import { startCacheGuard } from './cache-guard.ts';
import type { ConsumerConfig } from './config.ts';
import { ConsistencyChecker } from './consistency-check.ts';
import { DeadLetters, deadLetterTopic } from './dead-letters.ts';
import { startLagMonitor } from './lag-monitor.ts';
import { Materialiser, ShutdownInterrupted } from './materialiser.ts';
import { consumerMetrics } from './metrics.ts';
import { silentProgress } from './progress.ts';
import { rebuildCache } from './rebuild.ts';
import { ReplicaAcks } from './replica-acks.ts';
import { SourceHorizon } from './source-horizon.ts';

export type ConsumerService = {
  /** Not ready (with the reason) while Kafka is lost, Redis is unreachable or applying fails. */
  ready: () => Exclude<Readiness, boolean>;
  /** Graceful: finish the batch in flight, commit what was applied, close everything. */
  stop: () => Promise<void>;
  /**
   * Settles when consuming ends for a reason other than stop(): never for a Kafka outage (the
   * consumer rejoins by itself), only for a defect; the service should then exit.
   */
  failed: Promise<unknown>;
};

/** The Payment Consumer: change topics of the cached tables → version-guarded writes to Redis. */
export async function startConsumerService(
  config: ConsumerConfig,
  registry: Registry,
  log: Logger,
): Promise<ConsumerService> {
  const metrics = consumerMetrics(registry);
  const tables = new Map<string, CachedTable>(
    CACHED_TABLES.map((t) => [topicName(config.topicPrefix, config.sourceDatabase, t), t]),
  );
  const topics = [...tables.keys()];
  // A dead-letter series per topic from the start: the first dead letter is then an increase.
  for (const topic of topics) metrics.dlq.inc({ topic }, 0);
  const kafka = {
    brokers: config.kafkaBrokers,
    clientId: `${config.group}-${process.pid}`,
    security: config.kafkaSecurity,
  };
  // Auto-pipelined: a batch's script calls go out as one pipeline per node (a cluster: per master).
  const redis = createRedis(config, {
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const writer = new CacheWriter(redis, config.redisKeyPrefix);
  const admin = createKafkaAdmin(kafka);
  let pool: Pool | undefined;
  let stopping = false;

  await writer.load();
  // Same settings as the producer (TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR), so whichever service
  // starts first creates them; subscribing to a missing topic would let the broker auto-create it.
  const replicationFactor = config.topicReplicationFactor;
  const dlqTopic = deadLetterTopic(config.topicPrefix);
  const ensureTopics = () =>
    admin.ensureTopics([
      ...topics.map((name) => ({ name, partitions: config.topicPartitions, replicationFactor })),
      { name: dlqTopic, partitions: 1, replicationFactor },
    ]);
  const dlqProducer = createDurableProducer(kafka);

  const mysql = config.mysqlUrl ? createPool(config.mysqlUrl, { connectionLimit: 2 }) : undefined;
  pool = mysql;
  const guard = mysql
    ? startCacheGuard({
        writer,
        log,
        rebuild: () => {
          metrics.rebuilds.inc();
          metrics.rebuildRunning.set(1);
          return rebuildCache({
            pool: mysql,
            redis,
            writer,
            prefix: config.redisKeyPrefix,
            progress: silentProgress,
          }).finally(() => metrics.rebuildRunning.set(0));
        },
      })
    : undefined;
  // Versions beyond what the source has produced are dead-lettered; that needs MySQL to ask.
  const horizon = mysql ? new SourceHorizon(async () => (await readSourceState(mysql)).sequence) : undefined;
  const replicas =
    config.redisWaitReplicas > 0
      ? new ReplicaAcks(redis, {
          replicas: config.redisWaitReplicas,
          timeoutMs: config.redisWaitTimeoutMs,
        })
      : undefined;
  if (!horizon) log.warn('MYSQL_URL is not set: change versions cannot be checked against the source');
  if (guard && config.autoRebuild) await guard.check();
  if (guard && !config.autoRebuild) await guard.stop();

  const deadLetters = new DeadLetters(dlqProducer, dlqTopic, config.group);
  const checker =
    pool && config.consistencyCheckRate > 0
      ? new ConsistencyChecker({
          pool,
          redis,
          prefix: config.redisKeyPrefix,
          settings: {
            ratePerSecond: config.consistencyCheckRate,
            graceMs: config.consistencyCheckGraceMs,
            maxPending: config.consistencyCheckMaxPending,
          },
          registry,
          log,
        })
      : undefined;
  if (!pool && config.consistencyCheckRate > 0) log.warn('no MYSQL_URL: the consistency check is off');
  checker?.start();
  const recordPosition = appliedPositionRecorder(redis, config.redisKeyPrefix, log);
  const lag = startLagMonitor({ admin, group: config.group, topics, metrics, log });
  const stopSignal = new AbortController();
  /** The group member of the moment: replaced after Kafka was lost (see `consumeForever`). */
  let current: { materialiser: Materialiser; runner: BatchRunner } | undefined;
  let kafkaDown: string | undefined = 'kafka: not connected yet';
  metrics.kafkaConnected.set(0);
  let joinedFirst = () => {};
  const firstJoin = new Promise<void>((resolve) => {
    joinedFirst = resolve;
  });

  /**
   * One group member's life: join, consume until its stream fails (the client gives up after a few
   * retries, e.g. while the broker restarts), finish the batch in flight, leave. Messages it queued
   * but did not apply are dropped and never committed: the next member resumes from the committed
   * offsets (replays are no-ops under the version guard).
   */
  const consumeOnce = async (onJoined: () => void): Promise<void> => {
    const consumer: GroupConsumer = createGroupConsumer({
      ...kafka,
      groupId: config.group,
      sessionTimeoutMs: config.sessionTimeoutMs,
    });
    let stopCommittingSettled = () => {};
    let materialiser: Materialiser | undefined;
    try {
      const stream = await consumer.consume(topics);
      const m = new Materialiser({
        tables,
        writer,
        deadLetters,
        offsets: stream,
        metrics,
        log,
        isStopping: () => stopping,
        horizon,
        replicas,
        onApplied: (changes, applied) => {
          recordPosition(changes);
          checker?.observe(changes, applied);
        },
      });
      materialiser = m;
      // A fetch of only a commit marker moves the position with no message: commit it too (lag 0).
      stopCommittingSettled = stream.onFetched(() => {
        if (!stopping) m.commitSettled();
      });
      // Batches by backlog: everything fetched (up to CONSUMER_BATCH_MAX); up to CONSUMER_APPLY_DEPTH
      // under way at once, for a Redis whose round trip would otherwise bound the throughput.
      const runner = runBatches(stream.chunks(config.batchMax), {
        maxBatch: config.batchMax,
        maxQueued: config.batchMax * (config.applyDepth + 2),
        depth: config.applyDepth,
        handle: (batch) => m.apply(batch),
      });
      current = { materialiser: m, runner };
      onJoined();
      joinedFirst();
      kafkaDown = undefined;
      metrics.kafkaConnected.set(1);
      log.info({ topics, group: config.group, keyPrefix: config.redisKeyPrefix }, 'consuming');
      await runner.done;
      if (!stopping) throw new Error('the change stream ended');
    } finally {
      stopCommittingSettled();
      await materialiser?.flushCommits();
      // Leaving the group cannot reach a broker that is down: do not wait for it long.
      await withTimeout(
        consumer.close(),
        5000,
        () => new Error('closing the Kafka consumer timed out'),
      ).catch((err: unknown) => log.warn({ err }, 'closing the Kafka consumer failed'));
    }
  };

  /** Rejoins after every loss of Kafka, with capped exponential backoff, until stopped. */
  const consumeForever = async (): Promise<void> => {
    let topicsEnsured = false;
    let joined = false;
    for (let attempt = 0; !stopping; ) {
      try {
        if (!topicsEnsured) {
          await ensureTopics();
          topicsEnsured = true;
        }
        await consumeOnce(() => {
          if (joined) metrics.kafkaReconnects.inc();
          joined = true;
          attempt = 0; // the backoff starts over after every successful join
        });
      } catch (err) {
        if (stopping || err instanceof ShutdownInterrupted) return;
        // Wrong credentials or a missing ACL: no reconnection can fix that; stop and say why.
        if (isAccessError(err)) {
          throw new Error(
            accessErrorMessage(err, `user ${config.kafkaSecurity.sasl?.username ?? '(none)'}`),
            {
              cause: err,
            },
          );
        }
        const delayMs = backoffDelay(attempt++, {
          baseMs: 500,
          maxMs: config.kafkaReconnectMaxMs,
        });
        kafkaDown = `kafka: ${(err instanceof Error ? err.message : String(err)).slice(0, 300)}; reconnecting`;
        metrics.kafkaConnected.set(0);
        log.error({ err, attempt, delayMs }, 'lost Kafka; reconnecting after a backoff');
        await sleep(delayMs, stopSignal.signal);
      }
    }
  };
  const loop = consumeForever();
  const failed = loop.then(
    () => undefined,
    (err: unknown) => err,
  );
  // Started once it is a member of the group (Kafka down at start: it keeps trying meanwhile).
  await Promise.race([firstJoin, failed]);

  return {
    ready: () => {
      if (stopping) return { ready: false, reason: 'stopping' };
      if (kafkaDown !== undefined) return { ready: false, reason: kafkaDown };
      if (redis.status !== 'ready') return { ready: false, reason: `redis: connection ${redis.status}` };
      if (current && !current.materialiser.isHealthy)
        return {
          ready: false,
          reason:
            'applying a batch is failing (Redis, its replicas, MySQL or the dead-letter topic); retrying',
        };
      return { ready: true };
    },
    failed,
    async stop() {
      stopping = true;
      stopSignal.abort();
      current?.runner.stop();
      await loop.catch(() => undefined);
      lag.stop();
      await checker?.stop();
      await guard?.stop();
      await dlqProducer.close().catch(() => undefined);
      await admin.close().catch(() => undefined);
      await pool?.end().catch(() => undefined);
      redis.disconnect();
    },
  };
}
