// Helpers for the producer suites: an in-process producer on a test database and a Kafka reader.
import { Registry } from 'prom-client';
import {
  type ConsumedMessage,
  createGroupConsumer,
  createKafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { loadProducerConfig, type ProducerConfig } from '../../runtime/producer/config.ts';
import { createProducerMetrics } from '../../runtime/producer/metrics.ts';
import { type RunningProducer, startProducer } from '../../runtime/producer/service.ts';
import { requireEnv, uniqueSuffix } from './env.ts';

export function brokers(): string[] {
  return requireEnv('KAFKA_BROKERS').split(',');
}

/** A replica server_id no other suite picks (the source itself is 2 in the test stack). */
export function randomServerId(): number {
  return 100_000 + Math.floor(Math.random() * 4_000_000_000);
}

export function producerConfig(
  db: { name: string; cdcUrl: string },
  env: Record<string, string> = {},
): ProducerConfig {
  return loadProducerConfig({
    MYSQL_CDC_URL: db.cdcUrl,
    PRODUCER_DATABASES: db.name,
    KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
    TOPIC_PREFIX: `t${uniqueSuffix()}`,
    TOPIC_PARTITIONS: '3',
    PRODUCER_SERVER_ID: String(randomServerId()),
    START_FROM: 'latest',
    PRODUCER_LINGER_MS: '5',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    ...env,
  });
}

export async function runProducer(cfg: ProducerConfig): Promise<RunningProducer & { registry: Registry }> {
  const registry = new Registry();
  const running = await startProducer(cfg, {
    log: createLogger('producer-test', cfg.logLevel),
    metrics: createProducerMetrics(registry),
  });
  return { ...running, registry };
}

/**
 * Reads a topic from the beginning (read_committed) until `enough` holds or the timeout passes.
 * `brokerList` defaults to the test stack's (suites with a Kafka of their own pass theirs).
 */
export async function readTopic(
  topic: string,
  enough: (messages: ConsumedMessage[]) => boolean,
  timeoutMs = 30_000,
  brokerList: string[] = brokers(),
): Promise<ConsumedMessage[]> {
  // The producer creates a table's topic with its first event: wait for it to exist.
  const admin = createKafkaAdmin({ brokers: brokerList, clientId: `reader-admin-${uniqueSuffix()}` });
  const deadline = Date.now() + timeoutMs;
  try {
    while (!(await admin.partitionCounts([topic])).has(topic)) {
      if (Date.now() > deadline) return [];
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.close();
  }
  const consumer = createGroupConsumer({
    brokers: brokerList,
    clientId: `reader-${uniqueSuffix()}`,
    groupId: `reader-${uniqueSuffix()}`,
    maxWaitTimeMs: 200,
  });
  const out: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const stream = await consumer.consume([topic]);
    await Promise.race([
      (async () => {
        if (enough(out)) return;
        for await (const m of stream) {
          out.push(m);
          if (enough(out)) return;
        }
      })(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    return out;
  } finally {
    clearTimeout(timer);
    await consumer.close().catch(() => undefined);
  }
}

/** Deletes every topic of a prefix. */
export async function deleteTopics(prefix: string): Promise<void> {
  const admin = createKafkaAdmin({ brokers: brokers(), clientId: `cleanup-${uniqueSuffix()}` });
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    await admin.deleteTopics(topics);
  } finally {
    await admin.close();
  }
}

export { waitFor } from './wait.ts';
