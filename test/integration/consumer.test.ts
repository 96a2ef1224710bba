import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import { deadLetterTopic } from '../../runtime/consumer/dead-letters.ts';
import { type ConsumerService, startConsumerService } from '../../runtime/consumer/service.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { parseEnv } from '../../runtime/core/config/env.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import {
  type ConsumedMessage,
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  type DurableProducer,
  type KafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { createRegistry } from '../../runtime/core/metrics.ts';
import { versionOf } from '../../runtime/core/position.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { advanceSource, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { eventually } from '../support/wait.ts';
import { changeRecord, paymentRow, purchaseRow } from './consumer-fixtures.ts';

const suffix = uniqueSuffix();
const prefix = `ctest${suffix}`;
const brokers = requireEnv('KAFKA_BROKERS').split(',');
const redis = new Redis(requireEnv('REDIS_URL'));
const keys = cacheKeys(prefix);
const reader = new RedisPurchasePackageReader(redis, prefix);
const log = createLogger('consumer-test', 'warn');

let db: TestDatabase;
let admin: KafkaAdmin;
let producer: DurableProducer;
let service: ConsumerService | undefined;
let registry = createRegistry('consumer');
const topics = { packages: '', purchases: '', payments: '' };
// Sequences produced by the source after the start-up rebuild (set once it ran): these events are newer
// than the rebuild and within what the source has produced.
let base = 0n;

function config() {
  return parseEnv(consumerEnvSchema, {
    KAFKA_BROKERS: brokers.join(','),
    TOPIC_PREFIX: prefix,
    REDIS_URL: requireEnv('REDIS_URL'),
    MYSQL_URL: db.appUrl,
    CONSUMER_METRICS_PORT: '1',
    LOG_LEVEL: 'warn',
  });
}

async function start(): Promise<ConsumerService> {
  registry = createRegistry('consumer');
  service = await startConsumerService(config(), registry, log);
  return service;
}

const page = async (user: string) => {
  const r = await readPage(reader, user, { limit: 50, cursor: null, token: null });
  return r.kind === 'hit' ? r.page.items : r.kind;
};

beforeAll(async () => {
  db = await createTestDatabase();
  const database = db.name;
  topics.packages = topicName(prefix, database, 'packages');
  topics.purchases = topicName(prefix, database, 'purchases');
  topics.payments = topicName(prefix, database, 'payments');
  admin = createKafkaAdmin({ brokers, clientId: `ctest-admin-${suffix}` });
  await admin.ensureTopics(
    Object.values(topics).map((name) => ({ name, partitions: 3, replicationFactor: 1 })),
  );
  producer = createDurableProducer({ brokers, clientId: `ctest-producer-${suffix}` });
});

afterAll(async () => {
  await service?.stop();
  await producer?.close();
  await admin?.deleteTopics([...Object.values(topics), deadLetterTopic(prefix)]).catch(() => undefined);
  await admin?.close();
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  await db?.drop();
});

describe('consumer over the real broker and Redis', () => {
  it('rebuilds an empty Redis from MySQL before consuming', async () => {
    await start();
    base = (await advanceSource(db.admin, 30)) - 30n;
    expect(await redis.exists(keys.ready(0), keys.ready(keys.slots - 1))).toBe(2);
    expect(JSON.parse((await redis.hget(keys.packageRow('pkg_plus'), 'd')) ?? '{}').name).toBe('Plus');
    expect(await page('nobody')).toEqual([]);
  });

  it('materialises creates, updates and deletes into the purchase package', async () => {
    const u = 'u_flow';
    await producer.send([
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 1n,
        after: purchaseRow('pur_1', u, 1),
      }),
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 2n,
        after: purchaseRow('pur_2', u, 2),
      }),
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'c',
        seq: base + 2n,
        row: 1,
        after: paymentRow('pay_2', 'pur_2', u, 'pending'),
      }),
    ]);
    await producer.send([
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'u',
        seq: base + 3n,
        before: paymentRow('pay_2', 'pur_2', u, 'pending'),
        after: paymentRow('pay_2', 'pur_2', u, 'succeeded'),
      }),
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'd',
        seq: base + 4n,
        before: purchaseRow('pur_1', u, 1),
      }),
      { topic: topics.purchases, key: JSON.stringify({ id: 'pur_1' }), value: null },
    ]);
    const items = await eventually(
      'package',
      () => page(u),
      (v) => Array.isArray(v) && v.length === 1 && v[0]?.paid === true,
      30_000,
    );
    expect(items).toEqual([
      expect.objectContaining({
        purchase_id: 'pur_2',
        package: { id: 'pkg_plus', name: 'Plus' },
        payment: { id: 'pay_2', status: 'succeeded' },
        paid: true,
      }),
    ]);
    expect(await redis.hget(keys.userRow(u, 'purchases', 'pur_1'), 'd')).toBe('');
    const freshness = await registry.getSingleMetricAsString('consumer_freshness_seconds');
    for (const from of ['source', 'producer', 'kafka']) {
      expect(freshness).toMatch(
        new RegExp(`consumer_freshness_seconds_count\\{[^}]*from="${from}"[^}]*\\} [1-9]`),
      );
    }
  });

  it('ignores replays and late older events', async () => {
    const u = 'u_flow';
    await producer.send([
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 1n,
        after: purchaseRow('pur_1', u, 1),
      }),
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'u',
        seq: base + 2n,
        row: 1,
        after: paymentRow('pay_2', 'pur_2', u, 'pending'),
      }),
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 9n,
        after: purchaseRow('pur_marker', 'u_marker', 9),
      }),
    ]);
    await eventually(
      'marker',
      () => page('u_marker'),
      (v) => Array.isArray(v) && v.length === 1,
      30_000,
    );
    expect((await page(u)) as unknown[]).toHaveLength(1);
    expect(await redis.hget(keys.userRow(u, 'purchases', 'pur_1'), 'd')).toBe('');
    expect(await redis.hget(keys.userRow(u, 'payments', 'pay_2'), 'v')).toBe(versionOf(base + 3n, 0));
  });

  it('dead-letters poisoned messages with the reason and keeps the partition moving', async () => {
    await producer.send([
      { topic: topics.purchases, key: JSON.stringify({ id: 'pur_bad' }), value: '{not json' },
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 10n,
        after: { ...purchaseRow('pur_bad2', 'u_bad', 10), amount: 'lots' },
      }),
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 11n,
        after: purchaseRow('pur_ok', 'u_bad', 11),
      }),
    ]);
    await eventually(
      'after poison',
      () => page('u_bad'),
      (v) => Array.isArray(v) && v.length === 1,
      30_000,
    );

    const dlq = createGroupConsumer({
      brokers,
      clientId: `ctest-dlq-${suffix}`,
      groupId: `ctest-dlq-${suffix}`,
    });
    const letters: ConsumedMessage[] = [];
    try {
      const stream = await dlq.consume([deadLetterTopic(prefix)]);
      for await (const m of stream) {
        letters.push(m);
        if (letters.length === 2) break;
      }
    } finally {
      await dlq.close();
    }
    const reasons = letters.map((m) => m.headers.get('dlq.reason') ?? '');
    expect(reasons.some((r) => r.startsWith('undecodable'))).toBe(true);
    expect(reasons.some((r) => /schema mismatch: purchases.amount/.test(r))).toBe(true);
    expect(letters.map((m) => m.headers.get('dlq.source.topic'))).toEqual([
      topics.purchases,
      topics.purchases,
    ]);
    expect(letters.map((m) => m.value)).toContain('{not json');
    const metrics = await registry.getSingleMetricAsString('consumer_dlq_messages_total');
    expect(metrics).toMatch(
      new RegExp(`consumer_dlq_messages_total\\{topic="${topics.purchases.replace(/\./g, '\\.')}"[^}]*\\} 2`),
    );
  });

  it('dead-letters a change whose version is beyond what the source has produced; real changes still apply', async () => {
    const u = 'u_forged';
    const pending = paymentRow('pay_f', 'pur_f', u, 'pending');
    await producer.send([
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 12n,
        after: purchaseRow('pur_f', u, 12),
      }),
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'c',
        seq: base + 12n,
        row: 1,
        after: pending,
      }),
    ]);
    await eventually(
      'the real purchase',
      () => page(u),
      (v) => Array.isArray(v) && v.length === 1 && v[0]?.payment?.status === 'pending',
      30_000,
    );
    const cached = await redis.hgetall(keys.userRow(u, 'payments', 'pay_f'));
    // Anyone able to write the topic: "succeeded", with a GTID the source is nowhere near.
    await producer.send([
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'u',
        seq: 10n ** 15n,
        before: pending,
        after: paymentRow('pay_f', 'pur_f', u, 'succeeded'),
      }),
    ]);
    const dlq = createGroupConsumer({
      brokers,
      clientId: `ctest-dlq2-${suffix}`,
      groupId: `ctest-dlq2-${suffix}`,
    });
    let letter: ConsumedMessage | undefined;
    try {
      for await (const m of await dlq.consume([deadLetterTopic(prefix)])) {
        if (m.headers.get('dlq.source.topic') === topics.payments) {
          letter = m;
          break;
        }
      }
    } finally {
      await dlq.close();
    }
    expect(letter?.headers.get('dlq.reason')).toMatch(
      /^version beyond the source: GTID sequence 1000000000000000 but the source has produced up to \d+$/,
    );
    expect(await redis.hgetall(keys.userRow(u, 'payments', 'pay_f'))).toEqual(cached);
    expect(await redis.hget(keys.userRow(u, 'purchases', 'pur_f'), 'payv')).toBe(versionOf(base + 12n, 1));
    // The real change that follows is not blocked by the forged version.
    await producer.send([
      changeRecord({
        topic: topics.payments,
        table: 'payments',
        op: 'u',
        seq: base + 13n,
        before: pending,
        after: paymentRow('pay_f', 'pur_f', u, 'succeeded'),
      }),
    ]);
    await eventually(
      'the real change',
      () => page(u),
      (v) => Array.isArray(v) && v[0]?.paid === true,
      30_000,
    );
    expect(await redis.hget(keys.userRow(u, 'payments', 'pay_f'), 'v')).toBe(versionOf(base + 13n, 0));
  });

  it('commits exactly what it applied on graceful stop, and resumes from there', async () => {
    await service?.stop();
    service = undefined;
    const lag = await admin.consumerLag(`${prefix}.consumer`, Object.values(topics));
    // Fully caught up (a non-transactional producer writes no commit markers).
    expect(lag.filter((p) => p.end > 0n).every((p) => p.committed === p.end)).toBe(true);

    await producer.send([
      changeRecord({
        topic: topics.purchases,
        table: 'purchases',
        op: 'c',
        seq: base + 20n,
        after: purchaseRow('pur_late', 'u_resume', 20),
      }),
    ]);
    await start();
    await eventually(
      'resume',
      () => page('u_resume'),
      (v) => Array.isArray(v) && v.length === 1,
      30_000,
    );
    const applied = await registry.getSingleMetricAsString('consumer_messages_total');
    // Only the new message was read after the restart: nothing already committed was replayed.
    expect(applied).toMatch(/outcome="applied"[^}]*\} 1$/m);
    expect(applied).not.toMatch(/outcome="stale"/);
  });
});
