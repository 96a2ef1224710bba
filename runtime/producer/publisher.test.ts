import { ProtocolError } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import type { DurableProducer, KafkaAdmin, OutgoingRecord } from '../core/kafka/index.ts';
import { createLogger } from '../core/logger.ts';
import { budgetOf, recordBytes } from './batching.ts';
import { createProducerMetrics } from './metrics.ts';
import { FencedError, Publisher, STALLED_AFTER_FAILURES } from './publisher.ts';

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

/**
 * A Kafka stand-in: scripted failures, and every successful transaction recorded (`sent`: one entry
 * per transaction, `requests`: one per produce request).
 */
function fakeKafka(failures: unknown[], limits = { broker: 1_048_588, topics: new Map<string, number>() }) {
  const sent: OutgoingRecord[][] = [];
  const requests: OutgoingRecord[][] = [];
  let producers = 0;
  const admin = {
    ensureTopics: async () => undefined,
    messageLimits: async () => limits,
    close: async () => undefined,
  } as unknown as KafkaAdmin;
  const producer = (): DurableProducer => {
    producers++;
    return {
      transactional: true,
      init: async () => undefined,
      async send(records) {
        await this.sendRequests([records]);
      },
      async sendRequests(batches) {
        const failure = failures.shift();
        if (failure) throw failure;
        sent.push(batches.flat());
        requests.push(...batches);
      },
      close: async () => undefined,
    };
  };
  return { sent, requests, clients: { admin: () => admin, producer }, producers: () => producers };
}

function publisher(
  kafka: ReturnType<typeof fakeKafka>,
  over: { maxQueuedRecords?: number; lingerMs?: number; batchRecords?: number } = {},
) {
  const registry = new Registry();
  const metrics = createProducerMetrics(registry);
  const p = new Publisher({
    brokers: ['unused:9092'],
    name: 'p',
    topicPrefix: 'p',
    partitions: 1,
    replicationFactor: 1,
    batchRecords: over.batchRecords ?? 3,
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
    expect(JSON.parse(String(last?.value))).toMatchObject({ gtid: '0-2-5', pos: 1005 });
    expect(p.acked?.pos).toBe(1005);
    await p.close();
  });

  it('sizes a transaction by the backlog: all that is queued up to half the bound, in requests of batchRecords', async () => {
    const kafka = fakeKafka([]);
    const { p } = publisher(kafka, { lingerMs: 5, batchRecords: 3, maxQueuedRecords: 40 });
    await p.init();
    // The first transaction, before any send rate is known, takes batchRecords.
    p.enqueue({ records: [record(0)], progress: progress(0) });
    await p.flush();
    for (let i = 1; i <= 25; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    await p.flush();
    // 20 + 5 events (and a checkpoint each), not 9 transactions of 3.
    expect(kafka.sent.slice(1).map((b) => b.filter((r) => r.topic === 'p.db.t').length)).toEqual([20, 5]);
    expect(kafka.requests.slice(1, 8).map((r) => r.filter((x) => x.topic === 'p.db.t').length)).toEqual([
      3, 3, 3, 3, 3, 3, 2,
    ]);
    expect(p.acked?.pos).toBe(1025);
    await p.close();
  });

  it('keeps a transaction to about TRANSACTION_TARGET_MS at the measured send rate', async () => {
    const kafka = fakeKafka([]);
    const slow = kafka.clients.producer;
    // Each produce request of this broker takes 100 ms: ~10 requests of 3 records per second.
    kafka.clients.producer = () => {
      const p = slow();
      const send = p.sendRequests.bind(p);
      p.sendRequests = async (requests) => {
        await new Promise((r) => setTimeout(r, 100 * requests.length));
        await send(requests);
      };
      return p;
    };
    const { p } = publisher(kafka, { lingerMs: 5, batchRecords: 3, maxQueuedRecords: 1000 });
    await p.init();
    for (let i = 1; i <= 120; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    await p.flush();
    const sizes = kafka.sent.map((b) => b.filter((r) => r.topic === 'p.db.t').length);
    // Never half the queue (500) at once: about 30–40 records (a second's worth), not 120.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(60);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(120);
    await p.close();
  }, 30_000);

  it('lets the reader go on once a transaction is acknowledged, while the next one is in flight', async () => {
    const kafka = fakeKafka([]);
    const { p } = publisher(kafka, { lingerMs: 5, batchRecords: 2, maxQueuedRecords: 10 });
    let rooms = 0;
    await p.init();
    p.enqueue({ records: [record(0)], progress: progress(0) }); // a first transaction: the send rate
    await p.flush();
    p.onRoom(() => rooms++);
    const before = kafka.sent.length;
    for (let i = 1; i <= 12; i++) p.enqueue({ records: [record(i)], progress: progress(i) });
    expect(p.full).toBe(true);
    await p.flush();
    // Each acknowledged transaction (at most 5) leaves the queue below its bound: room every time.
    expect(kafka.sent.length - before).toBeGreaterThanOrEqual(3);
    expect(rooms).toBe(kafka.sent.length - before);
    await p.close();
  });

  it('counts acknowledged events per table and op', async () => {
    const kafka = fakeKafka([]);
    const { p, registry } = publisher(kafka, { lingerMs: 5, batchRecords: 5000 });
    await p.init();
    const orders = { db: 'db', table: 'orders', op: 'c' };
    const users = { db: 'db', table: 'users', op: 'u' };
    const events = [orders, orders, users, { ...orders }, orders];
    for (const [i, event] of events.entries())
      p.enqueue({ records: [record(i)], progress: progress(i), event });
    await p.flush();
    const values = (await registry.getSingleMetric('producer_events_total')?.get())?.values ?? [];
    expect(values.map((v) => [v.labels.table, v.labels.op, v.value]).sort()).toEqual([
      ['orders', 'c', 4],
      ['users', 'u', 1],
    ]);
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

  it('bounds each produce request by bytes per topic, the transaction by records, keeping the order', async () => {
    // 20 events of ~10 kB for one key, under a 64 kB limit: never more than the budget per request,
    // and all of them in one transaction (the transaction is bounded by records only).
    const kafka = fakeKafka([], { broker: 1_048_588, topics: new Map([['p.db.t', 65_536]]) });
    const { p } = publisher(kafka, { lingerMs: 5, batchRecords: 5000 });
    await p.init();
    for (let i = 1; i <= 20; i++)
      p.enqueue({
        records: [{ topic: 'p.db.t', key: '{"id":1}', value: 'x'.repeat(10_000) + i }],
        progress: progress(i),
      });
    await p.flush();
    const events = kafka.requests.map((b) => b.filter((r) => r.topic === 'p.db.t'));
    expect(events.length).toBeGreaterThan(3);
    expect(kafka.sent).toHaveLength(1);
    for (const b of events)
      expect(b.reduce((n, r) => n + recordBytes(r), 0)).toBeLessThanOrEqual(budgetOf(65_536));
    expect(events.flat().map((r) => Number(r.value?.slice(10_000)))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await p.close();
  });

  it('publishes a reference to an event over the limit in <prefix>.__oversized and goes on', async () => {
    const kafka = fakeKafka([], { broker: 100_000, topics: new Map() });
    const { p, registry } = publisher(kafka, { lingerMs: 5, batchRecords: 5000 });
    await p.init();
    const big = JSON.stringify({
      op: 'u',
      source: { gtid: '0-2-7', row: 3 },
      after: { body: 'y'.repeat(200_000) },
    });
    p.enqueue({ records: [record(1)], progress: progress(1) });
    // As the binlog path queues them: key and value as UTF-8 bytes.
    const bigRecord = { topic: 'p.db.t', key: Buffer.from('{"id":"big"}'), value: Buffer.from(big) };
    p.enqueue({ records: [bigRecord], progress: progress(2) });
    p.enqueue({ records: [record(3)], progress: progress(3) });
    await p.flush();
    const all = kafka.sent.flat().filter((r) => r.topic !== 'p.__checkpoints');
    expect(all.map((r) => `${r.topic} ${r.key}`)).toEqual([
      'p.db.t {"id":1}',
      'p.__oversized {"id":"big"}',
      'p.db.t {"id":3}',
    ]);
    expect(JSON.parse(String(all[1]?.value))).toMatchObject({
      reason: 'message_too_large',
      topic: 'p.db.t',
      key: '{"id":"big"}',
      bytes: recordBytes({ topic: 'p.db.t', key: '{"id":"big"}', value: big }),
      op: 'u',
      source: { gtid: '0-2-7', row: 3 },
    });
    expect(p.acked?.pos).toBe(1003);
    const oversized = await registry.getSingleMetric('producer_oversized_events_total')?.get();
    expect(oversized?.values[0]).toMatchObject({ value: 1, labels: { topic: 'p.db.t' } });
    await p.close();
  });

  it('reports that it cannot make progress after failures in a row, and clears it on success', async () => {
    const kafka = fakeKafka(
      Array.from({ length: STALLED_AFTER_FAILURES + 1 }, () => new Error('broker down')),
    );
    const { p, registry } = publisher(kafka);
    await p.init();
    const stalledGauge = async () =>
      (await registry.getSingleMetric('producer_publish_stalled')?.get())?.values[0]?.value;
    p.enqueue({ records: [record(1)], progress: progress(1) });
    const failures = registry.getSingleMetric('producer_kafka_send_failures_total');
    while (((await failures?.get())?.values[0]?.value ?? 0) < STALLED_AFTER_FAILURES)
      await new Promise((r) => setTimeout(r, 0));
    expect(p.stalled).toMatch(/Kafka transactions failing: 3 attempts in a row \(last: broker down\)/);
    expect(await stalledGauge()).toBe(1);
    await p.flush();
    expect(p.stalled).toBeUndefined();
    expect(await stalledGauge()).toBe(0);
    await p.close();
  });

  it('re-reads the limits after MESSAGE_TOO_LARGE and re-sizes the batch instead of retrying it as is', async () => {
    const limits = { broker: 1_048_588, topics: new Map<string, number>() };
    const kafka = fakeKafka([new ProtocolError('MESSAGE_TOO_LARGE')], limits);
    const { p } = publisher(kafka, { lingerMs: 5, batchRecords: 5000 });
    await p.init();
    // The topic's max.message.bytes was lowered after start: the first attempt is refused.
    limits.topics.set('p.db.t', 30_000);
    for (let i = 1; i <= 6; i++)
      p.enqueue({
        records: [{ topic: 'p.db.t', key: '{"id":1}', value: 'x'.repeat(10_000) }],
        progress: progress(i),
      });
    await p.flush();
    for (const b of kafka.requests)
      expect(
        b.filter((r) => r.topic === 'p.db.t').reduce((n, r) => n + recordBytes(r), 0),
      ).toBeLessThanOrEqual(budgetOf(30_000));
    expect(kafka.sent.flat().filter((r) => r.topic === 'p.db.t')).toHaveLength(6);
    await p.close();
  });
});
