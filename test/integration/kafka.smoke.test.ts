// Smoke test against the real local Kafka broker (dev/lib/kafka.sh).
// Creates its own topic, produces one record with acks=all through an idempotent producer,
// reads it back from the earliest offset and checks key, value and headers, then deletes the topic.
import {
  Admin,
  Consumer,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireEnv, uniqueSuffix } from '../support/env.ts';

/** KAFKA_BROKERS is a comma-separated host:port list (the test stack writes it to .local/test-stack.env). */
function brokers(): string[] {
  return requireEnv('KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('kafka smoke', () => {
  const runId = uniqueSuffix();
  const topic = `smoke.kafka.${runId}`;
  const key = JSON.stringify({ id: 42 });
  const value = JSON.stringify({ op: 'c', after: { id: 42, amount_minor: 1999, currency: 'EUR' }, runId });
  const headerValue = `trace-${runId}`;

  let admin: Admin | undefined;
  let producer: Producer<string, string, string, string> | undefined;
  let consumer: Consumer<string, string, string, string> | undefined;
  let topicCreated = false;

  beforeAll(async () => {
    const bootstrapBrokers = brokers();
    admin = new Admin({ clientId: `smoke-admin-${runId}`, bootstrapBrokers });
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    topicCreated = true;
  });

  afterAll(async () => {
    await consumer?.close(true).catch(() => undefined);
    await producer?.close().catch(() => undefined);
    if (admin) {
      if (topicCreated) {
        await admin.deleteTopics({ topics: [topic] });
      }
      await admin.close();
    }
  });

  it('produces with acks=all (idempotent) and consumes the same record back', async () => {
    const bootstrapBrokers = brokers();
    producer = new Producer({
      clientId: `smoke-producer-${runId}`,
      bootstrapBrokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });

    const result = await producer.send({
      messages: [
        { topic, key, value, headers: { 'x-trace-id': headerValue, 'content-type': 'application/json' } },
      ],
    });
    expect(result.offsets).toEqual([{ topic, partition: 0, offset: 0n }]);

    consumer = new Consumer({
      groupId: `smoke-group-${runId}`,
      clientId: `smoke-consumer-${runId}`,
      bootstrapBrokers,
      deserializers: stringDeserializers,
      maxWaitTime: 500,
      autocommit: false,
    });
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });

    const received = await withTimeout(
      'consuming the smoke record',
      20_000,
      (async () => {
        for await (const message of stream) {
          return message;
        }
        throw new Error('consumer stream ended without a message');
      })(),
    );

    expect(received.topic).toBe(topic);
    expect(received.partition).toBe(0);
    expect(received.offset).toBe(0n);
    expect(received.key).toBe(key);
    expect(received.value).toBe(value);
    expect(JSON.parse(received.value)).toEqual({
      op: 'c',
      after: { id: 42, amount_minor: 1999, currency: 'EUR' },
      runId,
    });
    expect(Object.fromEntries(received.headers)).toEqual({
      'x-trace-id': headerValue,
      'content-type': 'application/json',
    });
  }, 30_000);
});
