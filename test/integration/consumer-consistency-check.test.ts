import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import { ConsistencyChecker } from '../../runtime/consumer/consistency-check.ts';
import { deadLetterTopic } from '../../runtime/consumer/dead-letters.ts';
import { type ConsumerService, startConsumerService } from '../../runtime/consumer/service.ts';
import { readSourceRow } from '../../runtime/consumer/source-rows.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { parseEnv } from '../../runtime/core/config/env.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import {
  createDurableProducer,
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
import { waitFor } from '../support/wait.ts';
import { changeRecord } from './consumer-fixtures.ts';

// The continuous consistency check of a running consumer (real MariaDB, Kafka, Redis): healthy changes
// count as consistent; a row made stale or missing in Redis behind the consumer's back counts as such
// and keeps the oldest-inconsistency gauge rising until Redis agrees with MySQL again.
const suffix = uniqueSuffix();
const prefix = `cctest${suffix}`;
const brokers = requireEnv('KAFKA_BROKERS').split(',');
const redis = new Redis(requireEnv('REDIS_URL'));
const keys = cacheKeys(prefix);
const GRACE_MS = 1500;
/** The GTID sequence of the last event sent: a real one (the consumer refuses versions beyond the source). */
let seq = 0n;

let db: TestDatabase;
let app: Pool;
let admin: KafkaAdmin;
let producer: DurableProducer;
let service: ConsumerService | undefined;
let registry: Registry;
let purchasesTopic = '';

type Counts = { consistent: number; stale: number; missing: number };

async function counts(): Promise<Counts> {
  const metric = await registry.getSingleMetric('consumer_consistency_checks_total')?.get();
  const out: Counts = { consistent: 0, stale: 0, missing: 0 };
  for (const v of metric?.values ?? []) out[v.labels.result as keyof Counts] = v.value;
  return out;
}

async function oldestInconsistency(): Promise<number> {
  const metric = await registry.getSingleMetric('consumer_consistency_oldest_inconsistency_seconds')?.get();
  return metric?.values[0]?.value ?? Number.NaN;
}

/** A purchase committed to MySQL and its change event sent the way the producer would. */
async function commitPurchase(id: string, user: string): Promise<string> {
  await app.query(
    'INSERT INTO purchases (id, user_id, package_id, amount, currency) SELECT ?, ?, id, price_amount, currency FROM packages WHERE id = ?',
    [id, user, 'pkg_starter'],
  );
  const row = await readSourceRow(app, 'purchases', id);
  seq = await advanceSource(db.admin, 0); // at least this commit's own sequence, and newer than the last

  await producer.send([
    changeRecord({ topic: purchasesTopic, table: 'purchases', op: 'c', seq, after: row }),
  ]);
  return JSON.stringify(row);
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = createPool(db.appUrl, { connectionLimit: 2 });
  purchasesTopic = topicName(prefix, db.name, 'purchases');
  admin = createKafkaAdmin({ brokers, clientId: `cctest-admin-${suffix}` });
  await admin.ensureTopics(
    (['packages', 'purchases', 'payments'] as const).map((t) => ({
      name: topicName(prefix, db.name, t),
      partitions: 2,
      replicationFactor: 1,
    })),
  );
  producer = createDurableProducer({ brokers, clientId: `cctest-producer-${suffix}` });
  registry = createRegistry('consumer');
  const config = parseEnv(consumerEnvSchema, {
    KAFKA_BROKERS: brokers.join(','),
    TOPIC_PREFIX: prefix,
    REDIS_URL: requireEnv('REDIS_URL'),
    MYSQL_URL: db.appUrl,
    CONSUMER_METRICS_PORT: '1',
    LOG_LEVEL: 'error',
    CONSISTENCY_CHECK_RATE: '50',
    CONSISTENCY_CHECK_GRACE_MS: String(GRACE_MS),
  });
  service = await startConsumerService(config, registry, createLogger('cctest', 'error'));
});

afterAll(async () => {
  await service?.stop();
  await producer?.close();
  await admin
    ?.deleteTopics([
      ...(['packages', 'purchases', 'payments'] as const).map((t) => topicName(prefix, db.name, t)),
      deadLetterTopic(prefix),
    ])
    .catch(() => undefined);
  await admin?.close();
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  await app?.end();
  await db?.drop();
});

describe('continuous consistency check', () => {
  it('counts only consistent checks while the pipeline is healthy', async () => {
    for (let i = 0; i < 3; i++) await commitPurchase(`pur_ok_${i}`, 'u_ok');
    await waitFor('three consistent checks', async () => (await counts()).consistent >= 3, 30_000);
    expect(await counts()).toEqual({ consistent: 3, stale: 0, missing: 0 });
    expect(await oldestInconsistency()).toBe(0);
    // The applied position the api's X-Package-Position names: the newest change applied.
    expect(await redis.get(keys.appliedFor('u_ok'))).toBe(`${versionOf(seq, 0)} 0-1-${seq}`);
  });

  it('counts a row made stale behind the consumer, ages it, and sees it resolved', async () => {
    const before = await counts();
    const row = keys.userRow('u_stale', 'purchases', 'pur_stale');
    const data = await commitPurchase('pur_stale', 'u_stale');
    await waitFor('the consumer applied the purchase', async () => (await redis.hget(row, 'd')) === data);
    // Behind the consumer's back, within the grace period: an older rendering of the row.
    const old = { ...(JSON.parse(data) as Record<string, unknown>), amount: 1 };
    await redis.hset(row, 'd', JSON.stringify(old));

    await waitFor('a stale check', async () => (await counts()).stale === before.stale + 1, 30_000);
    const first = await waitFor('the inconsistency aging', async () => {
      const age = await oldestInconsistency();
      return age > 0 ? age : undefined;
    });
    await new Promise((r) => setTimeout(r, 1200));
    expect(await oldestInconsistency()).toBeGreaterThan(first + 1);

    // Repaired: the re-check finds Redis equal to MySQL and the gauge returns to 0, without a second verdict.
    await redis.hset(row, 'd', data);
    await waitFor('the inconsistency resolved', async () => (await oldestInconsistency()) === 0, 30_000);
    expect(await counts()).toEqual({ ...before, stale: before.stale + 1 });
  });

  it('counts a row the cache lost as missing', async () => {
    const before = await counts();
    const row = keys.userRow('u_lost', 'purchases', 'pur_lost');
    const data = await commitPurchase('pur_lost', 'u_lost');
    await waitFor('the consumer applied the purchase', async () => (await redis.hget(row, 'd')) === data);
    await redis.del(row);
    await waitFor('a missing check', async () => (await counts()).missing === before.missing + 1, 30_000);
    await waitFor('the inconsistency aging', async () => (await oldestInconsistency()) > 0);
    expect((await counts()).stale).toBe(before.stale);
  });

  it('re-checks a row MySQL changed again since it was sampled instead of counting it stale', async () => {
    const before = await counts();
    const row = keys.userRow('u_moving', 'purchases', 'pur_moving');
    const data = await commitPurchase('pur_moving', 'u_moving');
    await waitFor('the consumer applied the purchase', async () => (await redis.hget(row, 'd')) === data);
    // A newer commit whose event is late: past the grace period Redis differs from MySQL, legitimately.
    await app.query('UPDATE purchases SET amount = amount + 1 WHERE id = ?', ['pur_moving']);
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(await counts()).toEqual(before);
    const newer = await readSourceRow(app, 'purchases', 'pur_moving');
    seq = await advanceSource(db.admin, 0);
    await producer.send([
      changeRecord({ topic: purchasesTopic, table: 'purchases', op: 'u', seq, after: newer }),
    ]);
    await waitFor(
      'a consistent check',
      async () => (await counts()).consistent === before.consistent + 1,
      30_000,
    );
    expect(await counts()).toEqual({ ...before, consistent: before.consistent + 1 });
  });

  it('never reads MySQL faster than CONSISTENCY_CHECK_RATE, one primary-key point read per check', async () => {
    const statements: string[] = [];
    // The real pool, with its queries counted.
    const counted = new Proxy(app, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return (q: { sql: string }, ...rest: unknown[]) => {
            statements.push(q.sql);
            return (target.query as (...a: unknown[]) => unknown)(q, ...rest);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const checker = new ConsistencyChecker({
      pool: counted,
      redis,
      prefix,
      settings: { ratePerSecond: 4, graceMs: 100, maxPending: 1000 },
      registry: createRegistry('consumer'),
      log: createLogger('cctest', 'error'),
    });
    const burst = Array.from({ length: 200 }, (_, i) => ({
      table: 'purchases' as const,
      id: `pur_burst_${i}`,
      version: versionOf(seq, i),
      after: null,
      before: null,
    }));
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      checker.observe(burst.slice(i * 20, i * 20 + 20), new Array(20).fill(true));
      await new Promise((r) => setTimeout(r, 100));
    }
    checker.start(20);
    await new Promise((r) => setTimeout(r, 2000));
    await checker.stop();
    const seconds = (Date.now() - started) / 1000;
    expect(statements.length).toBeGreaterThan(0);
    // A bucket of 4 per second with a one-second burst.
    expect(statements.length).toBeLessThanOrEqual(4 + Math.ceil(4 * seconds));
    for (const sql of statements) expect(sql).toMatch(/^SELECT .+ FROM `purchases` WHERE `id` = \?$/);
  });
});
