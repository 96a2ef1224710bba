// The consumer process across a broker restart longer than the Kafka client's own retries: it must
// stay up, report the outage in /readyz and its metrics, and resume from its committed offsets.
// The suite starts a private Kafka (dev/stack.sh, the `outage` profile with ports and a data
// directory of its own, so it never meets the producer's outage suite) because stopping the shared
// test stack's broker would break the suites running beside it. MariaDB and Redis are the stack's.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import {
  createDurableProducer,
  createKafkaAdmin,
  type DurableProducer,
  type OutgoingRecord,
} from '../../runtime/core/kafka/index.ts';
import { versionOf } from '../../runtime/core/position.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { advanceSource, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { privateStack } from '../support/private-stack.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { type ServiceChild, spawnService } from '../support/service-process.ts';
import { eventually, freePort, waitFor } from '../support/wait.ts';
import { changeRecord, purchaseRow } from './consumer-fixtures.ts';

// Ports of this suite's broker; override them when something else holds these. Below the kernel's
// ephemeral range (32768-60999 by default) on purpose: while nothing listens on a port inside it, a
// client reconnecting to it can be given that same port as its source and connect to itself (TCP
// simultaneous open), and the restarted broker then fails with "Address already in use".
const KAFKA_PORT = process.env.CONSUMER_OUTAGE_KAFKA_PORT ?? '29192';
const KAFKA_CONTROLLER_PORT = process.env.CONSUMER_OUTAGE_KAFKA_CONTROLLER_PORT ?? '29193';
const brokers = [`127.0.0.1:${KAFKA_PORT}`];
// Longer than the old failure window (~12 s: the client's 4 fetch attempts, then the process exited).
const OUTAGE_MS = 25_000;

/** dev/stack.sh for a Kafka of this suite only (its own ports and data dir on the `outage` profile). */
const broker = privateStack('outage', ['kafka'], {
  dir: '.local/consumer-outage',
  env: { KAFKA_PORT, KAFKA_CONTROLLER_PORT },
});
const kafka = (action: 'up' | 'down' | 'stop' | 'start') =>
  action === 'stop' || action === 'start' ? broker.run(action, 'kafka') : broker.run(action);

const suffix = uniqueSuffix();
const prefix = `cout${suffix}`;
const redis = new Redis(requireEnv('REDIS_URL'));
const keys = cacheKeys(prefix);
// Sequences produced by the source after the start-up rebuild (set once it ran).
let base = 0n;

let db: TestDatabase;
let producer: DurableProducer | undefined;
let consumer: ServiceChild | undefined;
let opsPort = 0;
let purchasesTopic = '';

const purchase = (n: number): OutgoingRecord =>
  changeRecord({
    topic: purchasesTopic,
    table: 'purchases',
    op: 'c',
    seq: base + BigInt(n),
    after: purchaseRow(`pur_out_${n}`, `u_out_${n % 3}`, n % 60),
  });

const readyz = async () => {
  const res = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
};

/** The sum of a metric's samples that carry `label` (e.g. `outcome="applied"`); NaN when absent. */
const metric = async (name: string, label = ''): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const lines = text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
  if (lines.length === 0) return Number.NaN;
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
};

const cachedVersion = (n: number) =>
  redis.hget(keys.userRow(`u_out_${n % 3}`, 'purchases', `pur_out_${n}`), 'v');

beforeAll(async () => {
  await kafka('up');
  db = await createTestDatabase();
  purchasesTopic = topicName(prefix, db.name, 'purchases');
  producer = createDurableProducer({ brokers, clientId: `cout-producer-${suffix}` });
}, 180_000);

afterAll(async () => {
  try {
    if (consumer && consumer.child.exitCode === null) {
      consumer.child.kill('SIGTERM');
      await consumer.exited;
    }
    await producer?.close().catch(() => undefined);
    await deleteRedisKeys(redis, prefix);
    redis.disconnect();
    await db?.drop();
  } finally {
    // Always, also after a failure: the data directory stays, nothing keeps running.
    await kafka('down');
  }
}, 180_000);

describe('consumer process across a Kafka restart (private broker)', () => {
  it('stays up, reports the outage in /readyz and metrics, and resumes from its committed offsets', async () => {
    opsPort = await freePort();
    consumer = spawnService('consumer', {
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: prefix,
      REDIS_URL: requireEnv('REDIS_URL'),
      MYSQL_URL: db.appUrl,
      CONSUMER_METRICS_PORT: String(opsPort),
      TOPIC_PARTITIONS: '3',
      LOG_LEVEL: 'info',
    });
    const child = consumer;
    const alive = () => {
      if (child.child.exitCode !== null)
        throw new Error(`consumer exited (${child.child.exitCode}): ${child.output().slice(-4000)}`);
    };
    const readyNow = async () => {
      alive();
      return (await readyz()).status === 200;
    };
    await waitFor('consumer ready', readyNow, 60_000);
    expect(await metric('consumer_kafka_connected')).toBe(1);
    base = (await advanceSource(db.admin, 6)) - 6n;

    await producer?.send([purchase(1), purchase(2)]);
    await eventually(
      'before the outage',
      () => cachedVersion(2),
      (v) => v === versionOf(base + 2n, 0),
    );
    const appliedBefore = await metric('consumer_messages_total', 'outcome="applied"');

    await kafka('stop');
    const stoppedAt = Date.now();
    const notReady = await eventually(
      'readyz 503 while Kafka is down',
      readyz,
      (r) => r.status === 503,
      OUTAGE_MS,
    );
    expect(notReady.body.reason).toMatch(/kafka/i);
    expect(await metric('consumer_kafka_connected')).toBe(0);
    // Past the old failure window, still alive and still saying why it is not ready.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    alive();
    expect((await readyz()).status).toBe(503);

    await kafka('start');
    // What the source committed meanwhile, published once the broker is back (as the producer does:
    // it pauses while Kafka is away; the test does not retry meanwhile, see KAFKA_PORT), then more.
    await producer?.send([purchase(3), purchase(4)]);
    // A poisoned message too: the dead-letter path (its own producer) must have recovered as well.
    await producer?.send([purchase(5), { topic: purchasesTopic, key: '{"id":"x"}', value: 'not json' }]);
    await waitFor('consumer ready again', readyNow, 90_000);
    for (const n of [3, 4, 5]) {
      await eventually(
        `change ${n} after the outage`,
        () => cachedVersion(n),
        (v) => v === versionOf(base + BigInt(n), 0),
        60_000,
      );
    }
    expect(await metric('consumer_kafka_connected')).toBe(1);
    // Backed off exponentially while the broker was away, and counted rejoins, not attempts.
    const delays = child
      .output()
      .split('\n')
      .filter((l) => l.includes('lost Kafka; reconnecting after a backoff'))
      .map((l) => (JSON.parse(l) as { delayMs: number }).delayMs);
    // Each failed rejoin takes the client's own retries (seconds), so a 25 s outage sees two or more;
    // every delay is at least 1.6x the one before (2x, less up to 20% jitter): no reset in between.
    expect(delays.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < delays.length; i++) {
      expect(delays[i] ?? 0).toBeGreaterThanOrEqual(1.6 * (delays[i - 1] ?? 0) - 1);
    }
    const reconnects = await metric('consumer_kafka_reconnects_total');
    expect(reconnects).toBeGreaterThanOrEqual(1);
    expect(reconnects).toBeLessThan(delays.length);
    await eventually(
      'the poisoned message dead-lettered',
      () => metric('consumer_dlq_messages_total'),
      (n) => n === 1,
    );
    // Resumed from the committed offsets: the changes before the outage were not applied again (a
    // replay would count as stale, never as applied), and the new ones once each.
    expect(await metric('consumer_messages_total', 'outcome="applied"')).toBe(appliedBefore + 3);
    // The committed offsets reach the end of the topic (nothing left unapplied).
    const admin = createKafkaAdmin({ brokers, clientId: `cout-admin-${suffix}` });
    try {
      await eventually(
        'lag 0',
        async () =>
          (await admin.consumerLag(`${prefix}.consumer`, [purchasesTopic])).map((p) => Number(p.lag)),
        (lags) => lags.length === 3 && lags.every((l) => l === 0),
        30_000,
      );
    } finally {
      await admin.close();
    }
    alive();
  }, 240_000);
});
