// The consumer's committed offsets against the real producer's transactional writes (every Kafka
// transaction ends with a commit marker in each partition it touched): caught up means committed ==
// log end offset (lag 0), not the marker's offset (lag 1); and a kill -9, whenever it comes, never
// leaves a committed offset past a data record that was not applied to Redis.
import { type ChildProcess, spawn } from 'node:child_process';
import { Admin } from '@platformatic/kafka';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { createKafkaAdmin, type KafkaAdmin, type PartitionLag } from '../../runtime/core/kafka/index.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { brokers, deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { freePort, waitFor } from '../support/wait.ts';

const prefix = `tlag${uniqueSuffix()}`;
const group = `${prefix}.consumer`;
const keys = cacheKeys(prefix);
const redis = new Redis(requireEnv('REDIS_URL'));

let db: TestDatabase;
let admin: KafkaAdmin;
let producer: Awaited<ReturnType<typeof runProducer>> | undefined;
let consumer: { child: ChildProcess; port: number } | undefined;
let topics: string[] = [];
let purchasesTopic = '';
let nextRow = 0;

async function startConsumer(): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, ['runtime/consumer/main.ts'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      TOPIC_PREFIX: prefix,
      TOPIC_PARTITIONS: '3',
      REDIS_URL: requireEnv('REDIS_URL'),
      MYSQL_URL: db.appUrl,
      // One message per Redis round trip and per commit: a kill lands between applies and commits.
      CONSUMER_BATCH_MAX: '1',
      CONSUMER_SESSION_TIMEOUT_MS: '6000',
      CONSUMER_METRICS_PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  consumer = { child, port };
}

async function killConsumer(): Promise<void> {
  const c = consumer;
  consumer = undefined;
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((resolve) => c.child.once('exit', resolve));
  c.child.kill('SIGKILL');
  await exited;
}

/** consumer_messages_total of the running consumer, all topics and outcomes. */
async function messagesHandled(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${consumer?.port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('consumer_messages_total{'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Inserts purchases in MySQL transactions of `perTxn` rows; returns their ids. */
async function insertPurchases(txns: number, perTxn: number): Promise<string[]> {
  const ids: string[] = [];
  for (let t = 0; t < txns; t++) {
    const batch = Array.from({ length: perTxn }, () => `pur_${prefix}_${nextRow++}`);
    await db.admin.query(
      `INSERT INTO purchases (id, user_id, package_id, amount, currency)
       SELECT r.id, 'u_lag', p.id, p.price_amount, p.currency
       FROM (${batch.map(() => 'SELECT ? AS id').join(' UNION ALL ')}) r JOIN packages p ON p.id = 'pkg_plus'`,
      batch,
    );
    ids.push(...batch);
  }
  return ids;
}

async function inRedis(ids: string[]): Promise<boolean[]> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.exists(keys.userRow('u_lag', 'purchases', id));
  return ((await pipeline.exec()) ?? []).map(([, n]) => n === 1);
}

const allInRedis = (ids: string[]) => async () => (await inRedis(ids)).every(Boolean);

/** Partitions with data, keyed `topic/partition`. */
async function lagByPartition(): Promise<Map<string, PartitionLag>> {
  const lags = await admin.consumerLag(group, topics);
  return new Map(lags.filter((p) => p.end > 0n).map((p) => [`${p.topic}/${p.partition}`, p]));
}

/** Waits (bounded) for every partition to have a committed offset equal to its end, then returns them. */
async function settledLag(ms = 15_000): Promise<Map<string, PartitionLag>> {
  let last = new Map<string, PartitionLag>();
  await waitFor(
    'lag 0',
    async () => {
      last = await lagByPartition();
      return last.size > 0 && [...last.values()].every((p) => p.committed === p.end);
    },
    ms,
  ).catch(() => undefined);
  return last;
}

/** Sets the group's offsets as an admin tool would (once the killed member's session expired). */
async function setGroupOffsets(offsets: PartitionLag[]): Promise<void> {
  const raw = new Admin({ clientId: `${prefix}-offsets`, bootstrapBrokers: brokers() });
  const topics = [...new Set(offsets.map((o) => o.topic))].map((name) => ({
    name,
    partitionOffsets: offsets
      .filter((o) => o.topic === name)
      .map((o) => ({ partition: o.partition, offset: o.committed })),
  }));
  try {
    await waitFor(
      'an empty group',
      () => raw.alterConsumerGroupOffsets({ groupId: group, topics }).then(() => true),
      20_000,
    );
  } finally {
    await raw.close();
  }
}

const show = (lags: Map<string, PartitionLag>) =>
  [...lags].map(([k, p]) => ({ at: k, committed: p.committed, end: p.end, lag: p.lag }));

beforeAll(async () => {
  db = await createTestDatabase();
  admin = createKafkaAdmin({ brokers: brokers(), clientId: `${prefix}-admin` });
  const cfg = producerConfig(db, { TOPIC_PREFIX: prefix, TOPIC_PARTITIONS: '3' });
  producer = await runProducer(cfg);
  topics = ['packages', 'purchases', 'payments'].map((t) => `${prefix}.${db.name}.${t}`);
  purchasesTopic = `${prefix}.${db.name}.purchases`;
  await startConsumer();
  // The consumer's start-up rebuild comes first; rows inserted after it reach Redis only via Kafka.
  await waitFor(
    'the consumer to rebuild Redis',
    async () => (await redis.exists(keys.ready(keys.slots - 1))) === 1,
    60_000,
  );
}, 90_000);

afterAll(async () => {
  await killConsumer();
  await producer?.stop();
  await deleteTopics(prefix).catch(() => undefined);
  await admin?.close();
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  await db?.drop();
});

describe('consumer offsets over transactional topics (real producer, Kafka and Redis)', () => {
  it('has committed the log end offsets once caught up (lag 0), and a kill -9 then replays nothing', async () => {
    const ids = await insertPurchases(20, 3);
    await waitFor('every purchase in Redis', allInRedis(ids), 30_000);
    const lags = await settledLag();
    // Each partition ends with a commit marker; committing `last record + 1` would leave a lag of 1.
    expect(lags.size).toBeGreaterThan(0);
    expect(show(lags)).toEqual(show(lags).map((p) => ({ ...p, committed: p.end, lag: 0n })));
    expect([...lags.values()].reduce((s, p) => s + p.end, 0n)).toBeGreaterThan(BigInt(ids.length));

    // What the previous version left behind: each partition's offset at its last commit marker. The
    // consumer reads nothing there (only the marker) and must still commit past it.
    await killConsumer();
    await setGroupOffsets([...lags.values()].map((p) => ({ ...p, committed: p.end - 1n })));
    await startConsumer();
    const resumed = await settledLag();
    expect(show(resumed)).toEqual(show(resumed).map((p) => ({ ...p, committed: p.end, lag: 0n })));
    expect(await messagesHandled()).toBe(0);

    await killConsumer();
    await startConsumer();
    await waitFor('the restarted consumer to serve metrics', () => messagesHandled().then(() => true));
    const [fresh] = await insertPurchases(1, 1);
    await waitFor('the new purchase in Redis', allInRedis([fresh ?? '']), 30_000);
    // Only the new record: the restart resumed at the log end, past every applied record and marker.
    expect(await messagesHandled()).toBe(1);
    const after = await settledLag();
    expect(show(after)).toEqual(show(after).map((p) => ({ ...p, committed: p.end, lag: 0n })));
  }, 90_000);

  it('never has a committed offset past an unapplied record when killed in a backlog, and reaches lag 0 after a restart', async () => {
    // A backlog first, so the client holds fetched records (and a fetch position) well ahead of
    // what is applied when the kill comes.
    await killConsumer();
    const first = nextRow;
    const ids = await insertPurchases(150, 10);
    const records = await readTopic(purchasesTopic, (m) => m.length >= nextRow, 60_000);
    await startConsumer();
    await waitFor('part of the backlog in Redis', allInRedis([`pur_${prefix}_${first + 99}`]), 30_000);
    await killConsumer();
    const committed = (await admin.committedOffsets(group, [purchasesTopic])).get(purchasesTopic) ?? [];

    // Redis no longer changes (the consumer is dead): every record below a committed offset must be in it.
    const below = records.filter((r) => r.offset < (committed[r.partition] ?? -1n));
    const applied = await inRedis(below.map((r) => JSON.parse(r.key ?? '{}').id as string));
    const unapplied = below.filter((_, i) => !applied[i]).map((r) => `${r.partition}@${r.offset}`);
    expect(unapplied).toEqual([]);
    // The kill came mid-stream: records were left to apply, so the check above was not vacuous.
    const left = records.filter((r) => r.offset >= (committed[r.partition] ?? -1n)).length;
    console.info(`killed with ${left} of ${records.length} records past the committed offsets`);
    expect(left).toBeGreaterThan(0);

    await startConsumer();
    await waitFor('the whole load in Redis', allInRedis(ids), 60_000);
    const lags = await settledLag();
    expect(show(lags)).toEqual(show(lags).map((p) => ({ ...p, committed: p.end, lag: 0n })));
  }, 120_000);
});
