import { ProtocolError } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DurableProducer, KafkaAdmin, OutgoingRecord } from '../core/kafka/index.ts';
import { createLogger } from '../core/logger.ts';
import type { Checkpoint } from './checkpoint.ts';
import { createProducerMetrics } from './metrics.ts';
import { FencedError, Publisher } from './publisher.ts';

const progress = (pos: number): Checkpoint => ({
  v: 1,
  gtid: `0-2-${pos}`,
  file: 'bin.000001',
  pos: 1000 + pos,
  partial: null,
  source_ts_ms: 0,
  ts_ms: 0,
});
const record = (n: number): OutgoingRecord => ({ topic: 'p.db.t', key: `{"id":${n}}`, value: `{"n":${n}}` });

/** A Kafka stand-in: scripted failures, and every successful transaction recorded. */
function fakeKafka(failures: unknown[]) {
  const sent: OutgoingRecord[][] = [];
  let producers = 0;
  const admin = {
    ensureTopics: async () => undefined,
    close: async () => undefined,
  } as unknown as KafkaAdmin;
  const producer = (): DurableProducer => {
    producers++;
    return {
      transactional: true,
      async send(records) {
        const failure = failures.shift();
        if (failure) throw failure;
        sent.push(records);
      },
      close: async () => undefined,
    };
  };
  return { sent, clients: { admin: () => admin, producer }, producers: () => producers };
}

function publisher(
  kafka: ReturnType<typeof fakeKafka>,
  over: { maxQueuedRecords?: number; lingerMs?: number } = {},
) {
  const registry = new Registry();
  const metrics = createProducerMetrics(registry);
  const p = new Publisher({
    brokers: ['unused:9092'],
    name: 'p',
    topicPrefix: 'p',
    partitions: 1,
    replicationFactor: 1,
    batchRecords: 3,
    lingerMs: over.lingerMs ?? 0,
    maxQueuedRecords: over.maxQueuedRecords ?? 100,
    log: createLogger('test', 'silent'),
    metrics,
    clients: kafka.clients,
    retryBaseMs: 1,
  });
  return { p, registry };
}

describe('Publisher', () => {
  it('sends batches with the checkpoint of their last item as the final record', async () => {
    const kafka = fakeKafka([]);
    const { p } = publisher(kafka, { lingerMs: 5 }); // lingering lets all five queue up first
    await p.init();
    for (let i = 1; i <= 5; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    await p.flush();
    expect(kafka.sent.map((b) => b.length)).toEqual([4, 3]); // 3 events + checkpoint, 2 events + checkpoint
    const last = kafka.sent.at(-1)?.at(-1);
    expect(last?.topic).toBe('p.__checkpoints');
    expect(last?.key).toBe('p');
    expect(JSON.parse(last?.value ?? '{}')).toMatchObject({ gtid: '0-2-5', pos: 1005 });
    expect(p.acked?.pos).toBe(1005);
    await p.close();
  });

  it('retries a failed transaction on a fresh client until Kafka accepts it, without reordering', async () => {
    const kafka = fakeKafka([new Error('broker unavailable'), new Error('request timed out')]);
    const { p, registry } = publisher(kafka);
    await p.init();
    for (let i = 1; i <= 3; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    await p.flush();
    expect(
      kafka.sent
        .flat()
        .filter((r) => r.topic === 'p.db.t')
        .map((r) => r.key),
    ).toEqual(['{"id":1}', '{"id":2}', '{"id":3}']);
    expect(kafka.producers()).toBe(3);
    const failures = await registry.getSingleMetric('producer_kafka_send_failures_total')?.get();
    expect(failures?.values[0]?.value).toBe(2);
    await p.close();
  });

  it('stops for good when fenced by a newer producer', async () => {
    const kafka = fakeKafka([new ProtocolError('PRODUCER_FENCED')]);
    const { p } = publisher(kafka);
    await p.init();
    p.enqueue({ records: [record(1)], progress: progress(1) });
    await expect(p.fatal).rejects.toBeInstanceOf(FencedError);
    await expect(p.flush()).rejects.toBeInstanceOf(FencedError);
    expect(kafka.sent).toEqual([]);
    expect(p.acked).toBeNull();
    await p.close();
  });

  it('reports full at its bound and calls back when half of it is free', async () => {
    const kafka = fakeKafka([new Error('slow'), new Error('slow')]);
    const { p } = publisher(kafka, { maxQueuedRecords: 4 });
    await p.init();
    let rooms = 0;
    p.onRoom(() => {
      rooms++;
    });
    for (let i = 1; i <= 4; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    expect(p.full).toBe(true);
    await p.flush();
    expect(p.full).toBe(false);
    expect(p.queuedRecords).toBe(0);
    expect(rooms).toBeGreaterThan(0);
    await p.close();
  });

  it('shows the queue in its gauge while a send keeps failing, not the size of the failing batch', async () => {
    const kafka = fakeKafka(Array.from({ length: 5 }, () => new Error('broker down')));
    const { p, registry } = publisher(kafka, { maxQueuedRecords: 10 });
    await p.init();
    const gauge = async () =>
      (await registry.getSingleMetric('producer_queued_records')?.get())?.values[0]?.value;
    p.enqueue({ records: [record(1)], progress: progress(1) });
    // Until the first send has failed: it is retrying now, with item 1 as its batch.
    const failures = registry.getSingleMetric('producer_kafka_send_failures_total');
    while (((await failures?.get())?.values[0]?.value ?? 0) < 1) await new Promise((r) => setTimeout(r, 0));
    for (let i = 2; i <= 10; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    expect(await gauge()).toBe(10);
    await p.flush();
    expect(await gauge()).toBe(0);
    await p.close();
  });
});
