/**
 * End-to-end freshness of the pipeline: a row committed in MariaDB → visible in Redis, through the real
 * producer and consumer processes (binlog → Kafka → Redis), all co-located on this machine.
 *
 * One run measures
 *   1. the baseline: one bare Kafka hop (acks=all produce → group consume) at 1,000 messages/s on the
 *      same broker, so the pipeline's figures can be read as multiples of the broker's own latency;
 *   2. freshness p50/p90/p99 at 1,000 changes/s (single-row UPDATE transactions);
 *   3. a ladder of higher rates: the highest rate the writers sustain while the pipeline keeps up
 *      (everything visible within 2 s after the writes stop, p99 under 1 s) is "sustained with bounded lag".
 *
 * Commit time = when MariaDB acknowledged the COMMIT to the writer; visible = when Redis announced the
 * row's HSET (keyspace notification, enabled for the run and restored afterwards).
 * Usage: node bench/e2e/freshness.ts [seconds=15] [ladder=2000,3000,4000,6000]
 * Needs the test stack (STACK_NAME=test dev/stack.sh up); uses its own database, topics and key prefix.
 */
import { Redis } from 'ioredis';
import { cacheKeys, userKeyPattern } from '../../runtime/core/cache/keys.ts';
import { createPool } from '../../runtime/core/db/pool.ts';
import { startPipeline } from '../../test/e2e/harness.ts';
import { loadStackEnv, need } from '../api/stack.ts';
import { kafkaHop as oneKafkaHop } from '../pipeline/hop.ts';
import { type Buckets, bucketQuantileMs, scrapeHistogram } from './prom.ts';
import { paced, type Summary, summarise } from './stats.ts';

const seconds = Number(process.argv[2] ?? '15');
const ladder = (process.argv[3] ?? '2000,3000,4000,6000').split(',').map(Number);
const ROWS = 4000;
const MAX_IN_FLIGHT = 64;

loadStackEnv();
// Producer tuning variables pass through for same-run comparisons (not the stack's ports or ids).
const TUNING = ['PRODUCER_LINGER_MS', 'PRODUCER_BATCH_RECORDS', 'PRODUCER_MAX_QUEUED_RECORDS'];
const producerEnv = Object.fromEntries(
  TUNING.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
);
const pipeline = await startPipeline({ services: ['producer', 'consumer'], partitions: 3, producerEnv });
const redisUrl = need('REDIS_URL');
const admin = new Redis(redisUrl);
const subscriber = new Redis(redisUrl);
const pool = createPool(pipeline.db.adminUrl, { connectionLimit: 32 });
const keys = cacheKeys(pipeline.prefix);
const previousNotify = ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';

// A client library error thrown outside any await must not leave the pipeline's processes behind.
process.once('uncaughtException', (err) => {
  console.error(err);
  pipeline.teardown().finally(() => process.exit(1));
});

type Phase = {
  name: string;
  target: number;
  achieved: number;
  freshness: Summary;
  lost: number;
  drainMs: number;
  /** Bucket bounds (ms) from the services' own histograms during the phase: where the time goes. */
  stages: Record<string, { p50: number; p99: number }>;
};
const phases: Phase[] = [];

const STAGES: [string, 'producer' | 'consumer', string, string][] = [
  ['producer: Kafka transaction', 'producer', 'producer_kafka_send_seconds', ''],
  ['producer event built → applied', 'consumer', 'consumer_freshness_seconds', 'from="producer"'],
  ['Kafka record sent → applied', 'consumer', 'consumer_freshness_seconds', 'from="kafka"'],
  ['consumer: Redis apply (batch)', 'consumer', 'consumer_apply_seconds', ''],
];
const metricsUrl = (svc: 'producer' | 'consumer') =>
  `http://127.0.0.1:${(svc === 'producer' ? pipeline.producer : pipeline.consumer).port}/metrics`;
const scrapeStages = () =>
  Promise.all(STAGES.map(([, svc, metric, filter]) => scrapeHistogram(metricsUrl(svc), metric, filter)));

try {
  await seed();
  const hop = await kafkaHop(1000, Math.min(seconds, 10));
  await enableNotifications();
  phases.push(await measure('1,000 changes/s', 1000, seconds));
  for (const rate of ladder) {
    const phase = await measure(`${rate.toLocaleString('en')} changes/s`, rate, Math.min(seconds, 8));
    phases.push(phase);
    if (!bounded(phase)) break;
  }
  report(hop);
} finally {
  await admin.config('SET', 'notify-keyspace-events', previousNotify).catch(() => undefined);
  subscriber.disconnect();
  admin.disconnect();
  await pool.end();
  await pipeline.teardown();
}

function bounded(p: Phase): boolean {
  return p.lost === 0 && p.drainMs < 2000 && p.freshness.p99 < 1000 && p.achieved >= p.target * 0.95;
}

/** ROWS purchases with a payment each, and wait until the consumer materialised all of them. */
async function seed(): Promise<void> {
  for (let start = 0; start < ROWS; start += 500) {
    const ids = Array.from({ length: Math.min(500, ROWS - start) }, (_, i) => `b${start + i}`);
    await pool.query(
      `INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES ${ids.map(() => "(?, ?, 'pkg_plus', 1999, 'EUR')").join(',')}`,
      ids.flatMap((id, i) => [`pur_${id}`, `u_bench_${i % 100}`]),
    );
    await pool.query(
      `INSERT INTO payments (id, purchase_id, user_id, amount, currency, provider) VALUES ${ids.map(() => "(?, ?, ?, 1999, 'EUR', 'bench')").join(',')}`,
      ids.flatMap((id, i) => [`pay_${id}`, `pur_${id}`, `u_bench_${i % 100}`]),
    );
  }
  // Seeded in chunks of 500, user `u_bench_<index in the chunk mod 100>`.
  const last = keys.userRow(`u_bench_${((ROWS - 1) % 500) % 100}`, 'payments', `pay_b${ROWS - 1}`);
  const deadline = Date.now() + 120_000;
  while (!(await admin.hget(last, 'v'))) {
    if (Date.now() > deadline) throw new Error('seed rows did not reach Redis within 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function enableNotifications(): Promise<void> {
  const flags = new Set([...previousNotify, 'K', 'h']);
  await admin.config('SET', 'notify-keyspace-events', [...flags].join(''));
}

/** Writes `rate` single-row UPDATEs per second and times each from COMMIT ack to its HSET in Redis. */
async function measure(name: string, rate: number, duration: number): Promise<Phase> {
  const committedAt = new Map<string, number>();
  const visibleAt = new Map<string, number>();
  const samples: number[] = [];
  let lastMatch = 0;
  const match = (ref: string) => {
    const c = committedAt.get(ref);
    const v = visibleAt.get(ref);
    if (c === undefined || v === undefined) return;
    samples.push(Math.max(0, v - c));
    committedAt.delete(ref);
    visibleAt.delete(ref);
    lastMatch = performance.now();
  };
  const db = new URL(redisUrl).pathname.slice(1) || '0';
  const channelPrefix = `__keyspace@${db}__:`;
  const pattern = `${channelPrefix}${userKeyPattern(keys.prefix, 'row:payments:*')}`;
  const onEvent = (_pattern: string, channel: string, event: string) => {
    if (event !== 'hset') return;
    const seen = performance.now();
    admin.hget(channel.slice(channelPrefix.length), 'd').then(
      (d) => {
        const ref = d ? (JSON.parse(d) as { provider_ref?: string }).provider_ref : undefined;
        if (!ref?.startsWith(`${name}:`)) return;
        visibleAt.set(ref, seen);
        match(ref);
      },
      () => undefined,
    );
  };
  subscriber.on('pmessage', onEvent);
  await subscriber.psubscribe(pattern);
  const before: Buckets[] = await scrapeStages();
  try {
    const result = await paced(rate, duration, MAX_IN_FLIGHT, async (i) => {
      const ref = `${name}:${i}`;
      await pool.query('UPDATE payments SET provider_ref = ? WHERE id = ?', [ref, `pay_b${i % ROWS}`]);
      committedAt.set(ref, performance.now());
      match(ref);
    });
    const writesDone = performance.now();
    const deadline = writesDone + 10_000;
    while (committedAt.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return {
      name,
      target: rate,
      achieved: result.achievedPerSecond,
      freshness: summarise(samples),
      lost: committedAt.size,
      drainMs: Math.max(0, lastMatch - writesDone),
      stages: Object.fromEntries(
        (await scrapeStages()).map((after, i) => [
          STAGES[i]?.[0] ?? '',
          {
            p50: bucketQuantileMs(before[i] ?? new Map(), after, 0.5),
            p99: bucketQuantileMs(before[i] ?? new Map(), after, 0.99),
          },
        ]),
      ),
    };
  } finally {
    await subscriber.punsubscribe(pattern);
    subscriber.off('pmessage', onEvent);
  }
}

/** The baseline: produce (acks=all, idempotent) → consume on one topic of the same broker. */
function kafkaHop(rate: number, duration: number): Promise<Summary> {
  return oneKafkaHop(need('KAFKA_BROKERS').split(','), pipeline.prefix, rate, duration);
}

function report(hop: Summary): void {
  const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
  const lines = [
    '| phase | target/s | achieved/s | p50 ms | p90 ms | p99 ms | max ms | lost | drain ms | bounded |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    `| baseline: one Kafka hop | 1000 | - | ${ms(hop.p50)} | ${ms(hop.p90)} | ${ms(hop.p99)} | ${ms(hop.max)} | - | - | - |`,
    ...phases.map(
      (p) =>
        `| ${p.name} | ${p.target} | ${p.achieved.toFixed(0)} | ${ms(p.freshness.p50)} | ${ms(p.freshness.p90)} | ${ms(p.freshness.p99)} | ${ms(p.freshness.max)} | ${p.lost} | ${p.drainMs.toFixed(0)} | ${bounded(p) ? 'yes' : 'no'} |`,
    ),
  ];
  const at1k = phases[0];
  if (at1k) {
    console.log('\nwhere the time goes at 1,000 changes/s (histogram bucket bounds, ms):');
    for (const [stage, q] of Object.entries(at1k.stages))
      console.log(`  ${stage}: p50 ≤ ${q.p50}, p99 ≤ ${q.p99}`);
  }
  const sustained = phases.filter(bounded).reduce((best, p) => Math.max(best, p.achieved), 0);
  console.log(
    `\nnode ${process.version}, ${ROWS} rows, writers ≤ ${MAX_IN_FLIGHT} in flight, 3 partitions\n`,
  );
  console.log(lines.join('\n'));
  if (at1k) {
    console.log(
      `\nat 1,000 changes/s: p50 ${ms(at1k.freshness.p50)} ms (${(at1k.freshness.p50 / hop.p50).toFixed(1)}x one Kafka hop), ` +
        `p99 ${ms(at1k.freshness.p99)} ms (${(at1k.freshness.p99 / hop.p99).toFixed(1)}x)`,
    );
  }
  console.log(`highest sustained rate with bounded lag: ${sustained.toFixed(0)} changes/s`);
  console.log(JSON.stringify({ baseline: hop, phases, sustained }));
}
