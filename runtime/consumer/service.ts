import type { Registry } from 'prom-client';
import { CACHED_TABLES, type CachedTable } from '../core/cache/rows.ts';
import { CacheWriter } from '../core/cache/writer.ts';
import { createPool, type Pool } from '../core/db/pool.ts';
import { topicName } from '../core/events/envelope.ts';
import {
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  type GroupConsumer,
} from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import { createRedis } from '../core/redis/connect.ts';
import { runBatches } from './batches.ts';
import { startCacheGuard } from './cache-guard.ts';
import type { ConsumerConfig } from './config.ts';
import { ConsistencyChecker } from './consistency-check.ts';
import { DeadLetters, deadLetterTopic } from './dead-letters.ts';
import { startLagMonitor } from './lag-monitor.ts';
import { Materialiser, ShutdownInterrupted } from './materialiser.ts';
import { consumerMetrics } from './metrics.ts';
import { silentProgress } from './progress.ts';
import { rebuildCache } from './rebuild.ts';

export type ConsumerService = {
  ready: () => boolean;
  /** Graceful: finish the batch in flight, commit what was applied, close everything. */
  stop: () => Promise<void>;
  /** Settles when consuming ends on its own (source failure); the service should then exit. */
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
    CACHED_TABLES.map((t) => [topicName(config.TOPIC_PREFIX, config.SOURCE_DATABASE, t), t]),
  );
  const topics = [...tables.keys()];
  // A dead-letter series per topic from the start: the first dead letter is then an increase.
  for (const topic of topics) metrics.dlq.inc({ topic }, 0);
  const kafka = { brokers: config.KAFKA_BROKERS, clientId: `${config.CONSUMER_GROUP}-${process.pid}` };
  const redis = createRedis(config, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const writer = new CacheWriter(redis, config.REDIS_KEY_PREFIX);
  const admin = createKafkaAdmin(kafka);
  let pool: Pool | undefined;
  let stopping = false;

  await writer.load();
  // Same settings as the producer (TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR), so whichever service
  // starts first creates them; subscribing to a missing topic would let the broker auto-create it.
  const replicationFactor = config.TOPIC_REPLICATION_FACTOR;
  const dlqTopic = deadLetterTopic(config.TOPIC_PREFIX);
  await admin.ensureTopics([
    ...topics.map((name) => ({ name, partitions: config.TOPIC_PARTITIONS, replicationFactor })),
    { name: dlqTopic, partitions: 1, replicationFactor },
  ]);
  const dlqProducer = createDurableProducer(kafka);

  const guard = config.MYSQL_URL
    ? (() => {
        const mysql = createPool(config.MYSQL_URL, { connectionLimit: 2 });
        pool = mysql;
        return startCacheGuard({
          writer,
          log,
          rebuild: () => {
            metrics.rebuilds.inc();
            metrics.rebuildRunning.set(1);
            return rebuildCache({
              pool: mysql,
              redis,
              writer,
              prefix: config.REDIS_KEY_PREFIX,
              progress: silentProgress,
            }).finally(() => metrics.rebuildRunning.set(0));
          },
        });
      })()
    : undefined;
  if (guard && config.CONSUMER_AUTO_REBUILD) await guard.check();
  if (guard && !config.CONSUMER_AUTO_REBUILD) await guard.stop();

  const consumer: GroupConsumer = createGroupConsumer({
    ...kafka,
    groupId: config.CONSUMER_GROUP,
    sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
  });
  const checker =
    pool && config.CONSISTENCY_CHECK_RATE > 0
      ? new ConsistencyChecker({
          pool,
          redis,
          prefix: config.REDIS_KEY_PREFIX,
          settings: {
            ratePerSecond: config.CONSISTENCY_CHECK_RATE,
            graceMs: config.CONSISTENCY_CHECK_GRACE_MS,
            maxPending: config.CONSISTENCY_CHECK_MAX_PENDING,
          },
          registry,
          log,
        })
      : undefined;
  if (!pool && config.CONSISTENCY_CHECK_RATE > 0) log.warn('no MYSQL_URL: the consistency check is off');
  checker?.start();
  const stream = await consumer.consume(topics);
  const materialiser = new Materialiser({
    tables,
    writer,
    deadLetters: new DeadLetters(dlqProducer, dlqTopic, config.CONSUMER_GROUP),
    offsets: stream,
    metrics,
    log,
    isStopping: () => stopping,
    onApplied: (changes, applied) => checker?.observe(changes, applied),
  });
  // A fetch of only a commit marker moves the position with no message: commit it too (lag 0).
  const stopCommittingSettled = stream.onFetched(() => {
    if (!stopping) materialiser.commitSettled();
  });
  const runner = runBatches(stream, {
    maxBatch: config.CONSUMER_BATCH_MAX,
    maxQueued: config.CONSUMER_BATCH_MAX * 4,
    handle: (batch) => materialiser.apply(batch),
  });
  const lag = startLagMonitor({ admin, group: config.CONSUMER_GROUP, topics, metrics, log });
  log.info({ topics, group: config.CONSUMER_GROUP, keyPrefix: config.REDIS_KEY_PREFIX }, 'consuming');

  const failed = runner.done.then(
    () => (stopping ? undefined : new Error('the change stream ended')),
    (err: unknown) => (err instanceof ShutdownInterrupted ? undefined : err),
  );

  return {
    ready: () => !stopping && materialiser.isHealthy && redis.status === 'ready',
    failed,
    async stop() {
      stopping = true;
      runner.stop();
      await runner.done.catch(() => undefined);
      stopCommittingSettled();
      await materialiser.flushCommits();
      lag.stop();
      await checker?.stop();
      await guard?.stop();
      await consumer.close().catch((err: unknown) => log.warn({ err }, 'closing the Kafka consumer failed'));
      await dlqProducer.close().catch(() => undefined);
      await admin.close().catch(() => undefined);
      await pool?.end().catch(() => undefined);
      redis.disconnect();
    },
  };
}
