/**
 * The consumer's own capacity: how fast the real consumer process (runtime/consumer/main.ts) works off a
 * backlog of change records, for each CONSUMER_APPLY_DEPTH given, in one run on the same topics.
 *
 * The real producer publishes `changes` row changes (multi-row UPDATE transactions) while no consumer
 * runs; then, per depth, a consumer with a group and a Redis key prefix of its own (auto-rebuild off, so
 * every record is applied into an empty prefix) is started, and timed from ready until the last change
 * of every row sampled is in Redis. The same records, the same empty Redis state: the ratio between
 * depths is the gain of applying batches side by side.
 *
 * Usage: node bench/pipeline/consumer-catchup.ts [--changes 40000] [--depths 1,4] [--broker-delay 0]
 *   (--broker-delay: run the consumer in the bench's network namespace, the broker that many ms away)
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { createPool } from '../../runtime/core/db/pool.ts';
import { freePort, ServiceProcess, startPipeline } from '../../test/e2e/harness.ts';
import { deleteRedisKeys } from '../../test/support/redis.ts';
import { loadStackEnv, need } from '../api/stack.ts';
import { type SlowBroker, slowBrokerNamespace } from './netns.ts';

const { values: flags } = parseArgs({
  options: {
    changes: { type: 'string', default: '40000' },
    depths: { type: 'string', default: '1,4' },
    'broker-delay': { type: 'string', default: '0' },
  },
});
const CHANGES = Number(flags.changes);
const DEPTHS = flags.depths.split(',').map(Number);
const DELAY = Number(flags['broker-delay']);
const ROWS = 4000;
const PER_TX = 40;

loadStackEnv();
const redis = new Redis(need('REDIS_URL'));
let ns: SlowBroker | undefined;
const stopAll: (() => Promise<unknown>)[] = [];
const cleanup = async () => {
  for (const f of stopAll.reverse()) await f().catch((err: unknown) => console.error(err));
  await ns?.close();
  redis.disconnect();
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));

try {
  if (DELAY > 0) {
    const host = (url: string) => `${new URL(url).hostname}:${new URL(url).port}`;
    ns = await slowBrokerNamespace({
      delayMs: DELAY,
      kafka: need('KAFKA_BROKERS').split(',')[0] as string,
      direct: [host(need('MYSQL_URL')), host(need('REDIS_URL'))],
    });
  }
  // Small transactions: the Kafka client asks for a transaction timeout equal to its request timeout
  // (5 s), and on a loaded machine a 5,000-record transaction can outlast it (the broker then fences
  // the producer).
  const pipeline = await startPipeline({
    services: ['producer'],
    partitions: 3,
    producerEnv: { PRODUCER_BATCH_RECORDS: process.env.PRODUCER_BATCH_RECORDS ?? '500' },
  });
  stopAll.push(() => pipeline.teardown());
  const pool = createPool(pipeline.db.adminUrl, { connectionLimit: 8 });
  stopAll.push(() => pool.end());
  const users = (r: number) => `u_cu_${r % 100}`;
  for (let start = 0; start < ROWS; start += 500) {
    const rows = Array.from({ length: 500 }, (_, i) => start + i);
    await pool.query(
      `INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES ${rows.map(() => "(?, ?, 'pkg_plus', 1999, 'EUR')").join(',')}`,
      rows.flatMap((r) => [`pur_c${r}`, users(r)]),
    );
    await pool.query(
      `INSERT INTO payments (id, purchase_id, user_id, amount, currency, provider) VALUES ${rows.map(() => "(?, ?, ?, 1999, 'EUR', 'bench')").join(',')}`,
      rows.flatMap((r) => [`pay_c${r}`, `pur_c${r}`, users(r)]),
    );
  }
  const last = new Map<number, string>();
  const writes: Promise<unknown>[] = [];
  for (let tx = 0; tx * PER_TX < CHANGES; tx++) {
    const rows = Array.from({ length: PER_TX }, (_, k) => (tx * PER_TX + k) % ROWS);
    const ref = (k: number) => `c:${tx}:${k}`; // provider refs are unique per provider
    for (const [k, r] of rows.entries()) last.set(r, ref(k));
    writes.push(
      pool.query(
        `UPDATE payments SET provider_ref = CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE id IN (${rows.map(() => '?').join(',')})`,
        [...rows.flatMap((r, k) => [`pay_c${r}`, ref(k)]), ...rows.map((r) => `pay_c${r}`)],
      ),
    );
    if (writes.length >= 16) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const total = ROWS * 2 + CHANGES;
  // Wait until the producer has published everything: its checkpoint follows the acknowledged sends.
  const metrics = `http://127.0.0.1:${pipeline.producer.port}/metrics`;
  const published = async () => {
    const text = await fetch(metrics).then((r) => r.text());
    return [...text.matchAll(/^producer_events_total\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  };
  const deadline = Date.now() + 600_000;
  while ((await published()) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  console.error(`${total} changes published`);
  const sample = [...last.entries()].filter(([r]) => r % 97 === 0);
  const results: { depth: number; seconds: number; perSecond: number }[] = [];
  for (const [run, depth] of DEPTHS.entries()) {
    const prefix = `${pipeline.prefix}cu${run}d${depth}`;
    const keys = cacheKeys(prefix);
    const port = await freePort();
    await ns?.expose([port]);
    const consumer = new ServiceProcess(
      'consumer',
      port,
      {
        ...pipeline.toolEnv,
        CONSUMER_METRICS_PORT: String(port),
        CONSUMER_GROUP: `${prefix}.consumer`,
        REDIS_KEY_PREFIX: prefix,
        CONSUMER_AUTO_REBUILD: 'false',
        CONSISTENCY_CHECK_RATE: '0',
        CONSUMER_APPLY_DEPTH: String(depth),
      },
      ns?.wrap ?? [],
    );
    stopAll.push(() => deleteRedisKeys(redis, prefix));
    stopAll.push(() => consumer.stop());
    await consumer.start();
    const started = performance.now();
    const done = async () => {
      for (const [r, ref] of sample) {
        const d = await redis.hget(keys.userRow(users(r), 'payments', `pay_c${r}`), 'd');
        if (!d || (JSON.parse(d) as { provider_ref?: string }).provider_ref !== ref) return false;
      }
      return true;
    };
    while (!(await done())) {
      if (performance.now() - started > 600_000) throw new Error(`depth ${depth}: not caught up in 600 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    results.push({ depth, seconds, perSecond: total / seconds });
    console.error(`depth ${depth}: ${total} changes in ${seconds.toFixed(1)} s`);
    await consumer.stop();
  }
  const { loadavg } = await import('node:os');
  console.log(`\nconsumer catch-up, ${total} changes, broker +${DELAY} ms, load ${loadavg()[0]?.toFixed(1)}`);
  console.log('| CONSUMER_APPLY_DEPTH | seconds | changes/s | vs first |\n|---:|---:|---:|---:|');
  for (const r of results)
    console.log(
      `| ${r.depth} | ${r.seconds.toFixed(1)} | ${r.perSecond.toFixed(0)} | ${(r.perSecond / (results[0]?.perSecond ?? 1)).toFixed(2)}x |`,
    );
} finally {
  await cleanup();
}
