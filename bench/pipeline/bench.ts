/**
 * Pipeline throughput and freshness: rows committed in MariaDB → visible in Redis through the real
 * producer and consumer processes (runtime/producer/main.ts, runtime/consumer/main.ts), stepped over
 * offered rates, with the broker as near as it is and then with added round-trip latency.
 *
 * For each broker delay (default 0 and 20 ms per round trip):
 *   1. the baseline of that condition: one bare Kafka hop (acks=all produce → group consume, 1,000/s;
 *      with a delay fewer, one record per half round trip, so that it times a hop and not a queue);
 *   2. each offered rate (default 1k, 2k, 5k, 10k changes/s) for `--seconds`, the highest for
 *      `--sustain` seconds: achieved rate, commit → Redis p50/p99/max, its ratio to the hop, the lag
 *      trend (p99 of the first and the last 10 s), drain time after the writes stop, CPU of the producer
 *      and the consumer per change, load average.
 * Writers: `--writers` connections, each transaction one UPDATE of `rows/tx` rows (default
 * rate/250, so the writers commit ~250 transactions/s at every rate: MariaDB's commit latency on a loaded
 * machine must not be what limits the rate).
 * Delay 0 runs the services on the host's loopback; a delay runs them (and the hop) in a network
 * namespace of the bench's own (netns.ts), removed at exit, on error and on SIGINT/SIGTERM.
 *
 * Commit time = when MariaDB acknowledged the COMMIT to the writer; visible = when Redis announced the
 * row's HSET (keyspace notification, enabled for the run and restored afterwards) and the row read back
 * carried that change or a later one of the same row (versions only move forward). Freshness is sampled
 * on a quarter of the users (`--sample`), every change of theirs.
 *
 * Usage: node bench/pipeline/bench.ts [--rates 1000,2000,5000,10000] [--seconds 20] [--sustain 60]
 *        [--delays 0,20] [--writers 32] [--rows-per-tx N] [--profile]   (--profile: consumer --cpu-prof)
 * Needs the test stack (STACK_ENV_FILE or .local/test-stack.env); uses its own database, topics and key
 * prefix per condition. Producer tuning variables (PRODUCER_LINGER_MS, …) pass through.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { cacheKeys, escapeGlob } from '../../runtime/core/cache/keys.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { freePort, type Pipeline, startPipeline } from '../../test/e2e/harness.ts';
import { loadStackEnv, need } from '../api/stack.ts';
import { type Buckets, bucketQuantileMs, scrapeHistogram } from '../e2e/prom.ts';
import { paced, type Summary, summarise } from '../e2e/stats.ts';
import { type SlowBroker, slowBrokerNamespace } from './netns.ts';

const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '1000,2000,5000,10000' },
    seconds: { type: 'string', default: '20' },
    sustain: { type: 'string', default: '60' },
    delays: { type: 'string', default: '0,20' },
    writers: { type: 'string', default: '32' },
    'rows-per-tx': { type: 'string' },
    sample: { type: 'string', default: '25' },
    profile: { type: 'boolean', default: false },
  },
});
const RATES = flags.rates.split(',').map(Number);
const DELAYS = flags.delays.split(',').map(Number);
const STEP_SECONDS = Number(flags.seconds);
const SUSTAIN_SECONDS = Number(flags.sustain);
const WRITERS = Number(flags.writers);
const SAMPLED_USERS = Number(flags.sample); // of USERS
const ROWS = 8000;
const USERS = 100;
const ROOT = new URL('../..', import.meta.url).pathname;
const PROFILE_DIR = join(ROOT, '.local', 'bench-pipeline', 'profiles');

loadStackEnv();
const TUNING = [
  'PRODUCER_LINGER_MS',
  'PRODUCER_BATCH_RECORDS',
  'PRODUCER_MAX_QUEUED_RECORDS',
  'CONSUMER_BATCH_MAX',
  'CONSUMER_APPLY_DEPTH',
];
const tuning = (prefix: string) =>
  Object.fromEntries(
    TUNING.flatMap((n) => (n.startsWith(prefix) && process.env[n] ? [[n, process.env[n] as string]] : [])),
  );
const redisUrl = need('REDIS_URL');
const admin = new Redis(redisUrl);
const previousNotify = ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';

type Phase = {
  delayMs: number;
  target: number;
  rowsPerTx: number;
  seconds: number;
  achieved: number;
  freshness: Summary;
  /** p99 of the changes committed in the first and in the last 10 s: a lag that grows shows here. */
  firstP99: number;
  lastP99: number;
  lost: number;
  drainMs: number;
  /** CPU (µs) per change of each service during the phase, and its share of one core. */
  cpu: Record<'producer' | 'consumer', { usPerChange: number; cores: number }>;
  load: number;
  /** Services that exited during the phase (see their logs under .local/tmp/e2e). */
  died: string[];
  stages: Record<string, { p50: number; p99: number }>;
};
type Condition = { delayMs: number; hop: Summary; phases: Phase[] };
const conditions: Condition[] = [];

// Everything started is stopped whatever ends the run: an error, SIGINT/SIGTERM, an uncaught error.
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () => {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error(err));
    await admin.config('SET', 'notify-keyspace-events', previousNotify).catch(() => undefined);
    admin.disconnect();
  })();
  return cleaning;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
process.once('uncaughtException', (err) => {
  console.error(err);
  cleanup().finally(() => process.exit(1));
});

async function runCondition(delayMs: number): Promise<Condition> {
  let ns: SlowBroker | undefined;
  if (delayMs > 0) {
    ns = await slowBrokerNamespace({
      delayMs,
      kafka: need('KAFKA_BROKERS').split(',')[0] as string,
      direct: [hostPort(need('MYSQL_URL')), hostPort(redisUrl)],
    });
    const slow = ns;
    cleanups.push(() => slow.close());
  }
  const ports = { producer: await freePort(), consumer: await freePort(), api: 0, apiOps: 0 };
  await ns?.expose([ports.producer, ports.consumer]);
  const consumerEnv: Record<string, string> = { ...tuning('CONSUMER_') };
  if (flags.profile) consumerEnv.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
  const pipeline = await startPipeline({
    services: ['producer', 'consumer'],
    partitions: 3,
    producerEnv: tuning('PRODUCER_'),
    consumerEnv,
    ports,
    ...(ns ? { wrap: ns.wrap } : {}),
  });
  let torn = false;
  const teardown = async () => {
    if (torn) return;
    torn = true;
    await pipeline.teardown();
  };
  cleanups.push(teardown);
  const pool = createPool(pipeline.db.adminUrl, { connectionLimit: WRITERS });
  cleanups.push(() => pool.end());
  console.error(`[delay ${delayMs} ms] seeding ${ROWS} rows`);
  await seed(pool, pipeline);
  const hop = await runHop(pipeline.prefix, ns, delayMs);
  console.error(
    `[delay ${delayMs} ms] one Kafka hop: p50 ${hop.p50.toFixed(1)} ms, p99 ${hop.p99.toFixed(1)} ms`,
  );
  const phases: Phase[] = [];
  const top = Math.max(...RATES);
  for (const rate of RATES) {
    const phase = await measure(pool, pipeline, delayMs, rate, rate === top ? SUSTAIN_SECONDS : STEP_SECONDS);
    console.error(
      `[delay ${delayMs} ms] ${rate}/s: achieved ${phase.achieved.toFixed(0)}, p50 ${phase.freshness.p50.toFixed(1)} p99 ${phase.freshness.p99.toFixed(1)} ms, lost ${phase.lost}, load ${phase.load.toFixed(1)}`,
    );
    phases.push(phase);
    if (phase.died.length > 0) {
      console.error(
        `[delay ${delayMs} ms] ${phase.died.join(', ')} exited: the rest of this ladder is skipped`,
      );
      break;
    }
  }
  await teardown();
  await ns?.close();
  return { delayMs, hop, phases };
}

function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}

const userOf = (row: number) => `u_bench_${row % USERS}`;
const sampled = (row: number) => row % USERS < SAMPLED_USERS;

/** ROWS purchases with a payment each, and wait until the consumer materialised all of them. */
async function seed(pool: Pool, pipeline: Pipeline): Promise<void> {
  for (let start = 0; start < ROWS; start += 500) {
    const rows = Array.from({ length: Math.min(500, ROWS - start) }, (_, i) => start + i);
    await pool.query(
      `INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES ${rows.map(() => "(?, ?, 'pkg_plus', 1999, 'EUR')").join(',')}`,
      rows.flatMap((r) => [`pur_b${r}`, userOf(r)]),
    );
    await pool.query(
      `INSERT INTO payments (id, purchase_id, user_id, amount, currency, provider) VALUES ${rows.map(() => "(?, ?, ?, 1999, 'EUR', 'bench')").join(',')}`,
      rows.flatMap((r) => [`pay_b${r}`, `pur_b${r}`, userOf(r)]),
    );
  }
  const last = cacheKeys(pipeline.prefix).userRow(userOf(ROWS - 1), 'payments', `pay_b${ROWS - 1}`);
  const deadline = Date.now() + 180_000;
  while (!(await admin.hget(last, 'v'))) {
    if (Date.now() > deadline) throw new Error('seed rows did not reach Redis within 180 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The hop baseline as a child process, in the namespace when there is one (it must see the delay). One
 * record per send, and the idempotent producer has one request in flight per partition: at 1,000/s a
 * +20 ms round trip would measure a queue of sends, not a hop, so with a delay the rate stays below one
 * record per round trip.
 */
async function runHop(prefix: string, ns: SlowBroker | undefined, delayMs: number): Promise<Summary> {
  const rate = delayMs > 0 ? Math.min(1000, Math.floor(500 / delayMs)) : 1000;
  const [cmd, ...args] = [
    ...(ns?.wrap ?? []),
    process.execPath,
    join(ROOT, 'bench/pipeline/hop.ts'),
    prefix,
    String(rate),
    '10',
  ];
  const child = spawn(cmd as string, args, {
    env: { PATH: process.env.PATH ?? '', KAFKA_BROKERS: need('KAFKA_BROKERS') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`the Kafka hop exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Summary;
}

/** CPU seconds (user + system) a process used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

const STAGES: [string, 'producer' | 'consumer', string, string][] = [
  ['producer: Kafka transaction', 'producer', 'producer_kafka_send_seconds', ''],
  ['Kafka record sent → applied', 'consumer', 'consumer_freshness_seconds', 'from="kafka"'],
  ['consumer: Redis apply (batch)', 'consumer', 'consumer_apply_seconds', ''],
];

type Entry = { seq: number; committedAt?: number; visibleAt?: number };

async function measure(
  pool: Pool,
  pipeline: Pipeline,
  delayMs: number,
  rate: number,
  seconds: number,
): Promise<Phase> {
  const rowsPerTx = Number(flags['rows-per-tx'] ?? Math.max(1, Math.round(rate / 250)));
  const tag = `d${delayMs}r${rate}`;
  const keys = cacheKeys(pipeline.prefix);
  const pending = new Map<number, Entry[]>(); // sampled row → its changes not yet seen in Redis
  const early = new Map<number, Entry>(); // seen in Redis before the writer had the COMMIT ack
  const samples: { at: number; ms: number }[] = [];
  let lastVisible = 0;
  const sample = (e: Entry) => {
    if (e.committedAt === undefined || e.visibleAt === undefined) return;
    samples.push({ at: e.committedAt, ms: Math.max(0, e.visibleAt - e.committedAt) });
  };
  const sub = new Redis(redisUrl);
  const channelPrefix = `__keyspace@${new URL(redisUrl).pathname.slice(1) || '0'}__:`;
  const rowPattern = /:row:payments:pay_b(\d+)$/;
  sub.on('pmessage', (_p: string, channel: string, event: string) => {
    if (event !== 'hset') return;
    const seen = performance.now();
    const key = channel.slice(channelPrefix.length);
    const row = Number(rowPattern.exec(key)?.[1]);
    admin.hget(key, 'd').then(
      (d) => {
        const ref = d ? (JSON.parse(d) as { provider_ref?: string }).provider_ref : undefined;
        if (!ref?.startsWith(`${tag}:`)) return;
        const seq = Number(ref.slice(tag.length + 1));
        // That change is in Redis, so is every earlier one of the row (or it was superseded).
        const list = pending.get(row) ?? [];
        while (list.length > 0 && (list[0]?.seq ?? Infinity) <= seq) {
          const e = list.shift() as Entry;
          e.visibleAt = seen;
          if (e.committedAt === undefined) early.set(e.seq, e);
          else sample(e);
        }
        lastVisible = seen;
      },
      () => undefined,
    );
  });
  const patterns = Array.from(
    { length: SAMPLED_USERS },
    (_, u) => `${channelPrefix}${escapeGlob(keys.userRow(`u_bench_${u}`, 'payments', ''))}*`,
  );
  await sub.psubscribe(...patterns);
  const metricsUrl = (svc: 'producer' | 'consumer') => `http://127.0.0.1:${pipeline[svc].port}/metrics`;
  // A service that died mid-phase (reported below) has no metrics: empty buckets, not a failed run.
  const scrape = () =>
    Promise.all(
      STAGES.map(([, svc, m, f]) => scrapeHistogram(metricsUrl(svc), m, f).catch((): Buckets => new Map())),
    );
  const before: Buckets[] = await scrape();
  const cpuBefore = {
    producer: cpuSeconds(pipeline.producer.pid),
    consumer: cpuSeconds(pipeline.consumer.pid),
  };
  const started = performance.now();
  let seq = 0;
  const result = await paced(rate / rowsPerTx, seconds, WRITERS, async (i) => {
    const rows = Array.from({ length: rowsPerTx }, (_, k) => (i * rowsPerTx + k) % ROWS);
    const entries = rows.map((row) => {
      const e: Entry = { seq: seq++ };
      if (sampled(row)) {
        const list = pending.get(row) ?? [];
        list.push(e);
        pending.set(row, list);
      }
      return e;
    });
    const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
    await pool.query(
      `UPDATE payments SET provider_ref = CASE id ${cases} END WHERE id IN (${rows.map(() => '?').join(',')})`,
      [
        ...rows.flatMap((row, k) => [`pay_b${row}`, `${tag}:${entries[k]?.seq}`]),
        ...rows.map((r) => `pay_b${r}`),
      ],
    );
    const at = performance.now();
    rows.forEach((row, k) => {
      const e = entries[k] as Entry;
      if (!sampled(row)) return;
      e.committedAt = at;
      if (early.delete(e.seq)) sample(e);
    });
  });
  const writesDone = performance.now();
  const unseen = () => [...pending.values()].reduce((n, l) => n + l.length, 0);
  const deadline = writesDone + 15_000;
  while (unseen() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const died = (['producer', 'consumer'] as const).filter((svc) => !pipeline[svc].running);
  const cpu = (svc: 'producer' | 'consumer') => {
    const used = died.includes(svc) ? Number.NaN : cpuSeconds(pipeline[svc].pid) - cpuBefore[svc];
    const wall = (performance.now() - started) / 1000;
    return { usPerChange: (used * 1e6) / (result.issued * rowsPerTx), cores: used / wall };
  };
  const after = await scrape();
  await sub.punsubscribe(...patterns);
  sub.disconnect();
  const window = (from: number, to: number) =>
    summarise(samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms)).p99;
  const changes = result.issued * rowsPerTx;
  return {
    delayMs,
    target: rate,
    rowsPerTx,
    seconds,
    achieved: changes / ((writesDone - started) / 1000),
    freshness: summarise(samples.map((s) => s.ms)),
    firstP99: window(started, started + 10_000),
    lastP99: window(writesDone - 10_000, writesDone),
    lost: unseen(),
    drainMs: Math.max(0, lastVisible - writesDone),
    cpu: { producer: cpu('producer'), consumer: cpu('consumer') },
    load: loadavg()[0] ?? Number.NaN,
    died,
    stages: Object.fromEntries(
      after.map((a, i) => [
        STAGES[i]?.[0] ?? '',
        {
          p50: bucketQuantileMs(before[i] ?? new Map(), a, 0.5),
          p99: bucketQuantileMs(before[i] ?? new Map(), a, 0.99),
        },
      ]),
    ),
  };
}

/** Sustained with bounded lag: the offered rate reached, nothing lost, the lag not growing, drained. */
function bounded(p: Phase): boolean {
  return (
    p.died.length === 0 &&
    p.lost === 0 &&
    p.achieved >= p.target * 0.95 &&
    p.drainMs < 2000 &&
    p.lastP99 <= Math.max(2 * p.firstP99, p.firstP99 + 200)
  );
}

function report(): void {
  const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
  const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-');
  console.log(
    `\nnode ${process.version}, ${ROWS} rows, ${WRITERS} writer connections, 3 partitions, 2 cores shared`,
  );
  for (const c of conditions) {
    console.log(
      `\n### broker delay +${c.delayMs} ms per round trip${c.delayMs ? ' (network namespace, delaying relay)' : ' (host loopback)'}`,
    );
    console.log(
      `one Kafka hop (${c.delayMs > 0 ? Math.min(1000, Math.floor(500 / c.delayMs)) : 1000}/s): p50 ${ms(c.hop.p50)} ms, p99 ${ms(c.hop.p99)} ms, max ${ms(c.hop.max)} ms (n ${c.hop.n})\n`,
    );
    console.log(
      '| offered/s | rows/tx | s | achieved/s | p50 ms | p99 ms | max ms | p50/hop | p99/hop | p99 first/last 10 s | lost | drain ms | producer µs/change (cores) | consumer µs/change (cores) | load 1m | bounded |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|');
    for (const p of c.phases) {
      console.log(
        `| ${p.target} | ${p.rowsPerTx} | ${p.seconds} | ${p.achieved.toFixed(0)} | ${ms(p.freshness.p50)} | ${ms(p.freshness.p99)} | ${ms(p.freshness.max)} | ${x(p.freshness.p50, c.hop.p50)} | ${x(p.freshness.p99, c.hop.p99)} | ${ms(p.firstP99)} / ${ms(p.lastP99)} | ${p.lost} | ${p.drainMs.toFixed(0)} | ${p.cpu.producer.usPerChange.toFixed(0)} (${p.cpu.producer.cores.toFixed(2)}) | ${p.cpu.consumer.usPerChange.toFixed(0)} (${p.cpu.consumer.cores.toFixed(2)}) | ${p.load.toFixed(1)} | ${bounded(p) ? 'yes' : p.died.length > 0 ? `no: ${p.died.join(', ')} exited` : 'no'} |`,
      );
    }
    console.log('\nwhere the time goes (histogram bucket bounds, ms, p50 / p99):');
    for (const p of c.phases)
      console.log(
        `  ${p.target}/s: ${Object.entries(p.stages)
          .map(([s, q]) => `${s} ${q.p50} / ${q.p99}`)
          .join('; ')}`,
      );
  }
  console.log(JSON.stringify({ conditions }));
}

try {
  await admin.config('SET', 'notify-keyspace-events', [...new Set([...previousNotify, 'K', 'h'])].join(''));
  for (const delayMs of DELAYS) conditions.push(await runCondition(delayMs));
  report();
} finally {
  await cleanup();
}
