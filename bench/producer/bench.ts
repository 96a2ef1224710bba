// Producer benchmark against the real database (MariaDB or MySQL 9.7, whichever the env names) and
// Kafka (bounded; a few tens of thousands of rows):
//  1. catch-up: rows committed while no producer runs, then
//     a. raw binlog read rate (the baseline: zongji decoding only, nothing sent), and
//     b. the producer from the same position until Kafka acknowledged the last transaction;
//  2. live: transactions committed while the producer streams; commit → Kafka ack latency per
//     transaction (commit time taken by the writer right after COMMIT returns).
//
//   set -a; . .local/test-stack.env; set +a
//   node bench/producer/bench.ts [catchUpRows=30000] [liveTxns=300] [rowsPerTxn=100]
// `make bench-producer` runs it on MariaDB and then on the MySQL 9.7 test server (its MYSQL_* URLs):
// each flavor's producer rate is given as a ratio against that flavor's raw binlog read.
// BENCH_KAFKA_DELAY_MS=20 runs the catch-up a second time, in the same run, with every Kafka round
// trip 20 ms longer (latency-proxy.ts between the producer and the broker): `catchUpDelayed`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import mysql from 'mysql2/promise';
import { Registry } from 'prom-client';
import {
  commitWithPosition,
  detectFlavor,
  readSourceState,
  sequenceOfState,
  stateCovers,
  trackOwnCommits,
} from '../../runtime/core/binlog/source.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { BinlogReader } from '../../runtime/producer/binlog/reader.ts';
import { loadProducerConfig } from '../../runtime/producer/config.ts';
import { createProducerMetrics } from '../../runtime/producer/metrics.ts';
import { startProducer } from '../../runtime/producer/service.ts';

const catchUpRows = Number(process.argv[2] ?? 30_000);
const liveTxns = Number(process.argv[3] ?? 300);
const rowsPerTxn = Number(process.argv[4] ?? 100);
const need = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: source .local/test-stack.env first`);
  return v;
};
const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const dbName = `payments_bench_${suffix}`;
const prefix = `bench${suffix}`;
const log = createLogger('bench', 'error');

const withDb = (url: string) => {
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  return u.toString();
};
const admin = await mysql.createConnection(need('MYSQL_ADMIN_URL'));
await admin.query(`CREATE DATABASE ${dbName}`);
// The replication user reads only the databases it was granted (docs/producer.md, Grants).
const cdc = new URL(need('MYSQL_CDC_URL'));
const cdcAccount = `${admin.escape(decodeURIComponent(cdc.username))}@'127.0.0.1'`;
const benchGrant = `\`${dbName.replace(/_/g, '\\_')}\`.*`; // `_` is a wildcard in grants
await admin.query(`GRANT SELECT ON ${benchGrant} TO ${cdcAccount}`);
await admin.query(`CREATE TABLE ${dbName}.orders (
  id BIGINT PRIMARY KEY, user_id VARCHAR(32) NOT NULL, amount_minor BIGINT NOT NULL,
  currency CHAR(3) NOT NULL, status ENUM('pending','paid','failed') NOT NULL,
  note VARCHAR(200) NULL, created_at DATETIME(6) NOT NULL)`);

const flavor = await detectFlavor(admin);
await trackOwnCommits(admin);
const gtidPos = async () => (await readSourceState(admin)).gtid ?? '';
let nextId = 1;
async function commitTxn(): Promise<{ gtid: string; sequence: bigint; at: number }> {
  const values = Array.from({ length: rowsPerTxn }, () => {
    const id = nextId++;
    return `(${id}, 'usr_${id % 997}', ${1000 + (id % 5000)}, 'EUR', 'paid', 'order ${id} — ok', UTC_TIMESTAMP(6))`;
  }).join(',');
  await admin.query('BEGIN');
  await admin.query(`INSERT INTO ${dbName}.orders VALUES ${values}`);
  const commit = await commitWithPosition(admin);
  const at = performance.now();
  if (!commit) throw new Error('the insert wrote no binlog event');
  return { ...commit, at };
}

/** CPU time this process spent (user + system, µs) since `from`. */
const cpuSince = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return d.user + d.system;
};

// BENCH_CPU_PROFILE=<file.cpuprofile> records a V8 CPU profile of the producer's catch-up only.
const profileFile = process.env.BENCH_CPU_PROFILE;
const profiler = profileFile ? new Session() : undefined;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

function config(start: string, over: { brokers?: string; prefix?: string } = {}) {
  return loadProducerConfig({
    MYSQL_CDC_URL: withDb(need('MYSQL_CDC_URL')),
    KAFKA_BROKERS: over.brokers ?? need('KAFKA_BROKERS'),
    TOPIC_PREFIX: over.prefix ?? prefix,
    PRODUCER_SERVER_ID: String(100_000 + Math.floor(Math.random() * 1_000_000)),
    START_FROM: start,
    LOG_LEVEL: 'error',
    // Tuning knobs pass through, e.g. PRODUCER_BATCH_RECORDS=5000 node bench/producer/bench.ts
    ...Object.fromEntries(
      ['PRODUCER_BATCH_RECORDS', 'PRODUCER_LINGER_MS', 'PRODUCER_MAX_QUEUED_RECORDS', 'TOPIC_PARTITIONS']
        .filter((k) => process.env[k])
        .map((k) => [k, process.env[k]]),
    ),
  });
}

try {
  // 1. catch-up
  const startGtid = await gtidPos();
  const txns = Math.ceil(catchUpRows / rowsPerTxn);
  let endGtid = startGtid;
  for (let i = 0; i < txns; i++) endGtid = (await commitTxn()).gtid;
  const rows = txns * rowsPerTxn;

  let rawCpuUsPerRow = 0;
  // 1a. raw binlog read: decode the same range with zongji, send nothing.
  const raw = await new Promise<number>((resolve, reject) => {
    const reader = new BinlogReader({
      mysqlUrl: need('MYSQL_CDC_URL'),
      serverId: 100_000 + Math.floor(Math.random() * 1_000_000),
      databases: [dbName],
      tableSelected: () => true,
      ops: ['c', 'u', 'd'],
      log,
    });
    let n = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    reader
      .start(
        { gtidSet: startGtid },
        {
          onChange: () => {
            n++;
          },
          onCommit: (c) => {
            if (c.gtid === endGtid) {
              reader.stop();
              rawCpuUsPerRow = cpuSince(cpu0) / n;
              resolve(n / ((performance.now() - t0) / 1000));
            }
          },
          onError: reject,
        },
      )
      .catch(reject);
  });

  // 1b. the producer over the same range (timed from when it is up, so startup is not counted).
  async function catchUpRun(over: { brokers?: string; prefix?: string }, profile: boolean) {
    let ackedAt: (t: number) => void = () => undefined;
    const lastAck = new Promise<number>((r) => {
      ackedAt = r;
    });
    const catchUpRegistry = new Registry();
    const first = await startProducer(config(`gtid:${startGtid}`, over), {
      log,
      metrics: createProducerMetrics(catchUpRegistry),
      onAck: (cp) => {
        if (cp.gtid && stateCovers(flavor, cp.gtid, endGtid)) ackedAt(performance.now());
      },
    });
    if (profile && profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const tEnd = await Promise.race([
      lastAck,
      first.done.then(() => {
        throw new Error('producer stopped before the catch-up finished');
      }),
    ]);
    const cpuUsPerEvent = cpuSince(cpu0) / rows;
    // Kafka transactions the catch-up took, and their mean duration (the producer_send_seconds histogram).
    const sends = ((await catchUpRegistry.getSingleMetric('producer_kafka_send_seconds')?.get())?.values ??
      []) as { metricName?: string; value: number }[];
    const sendCount = sends.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const sendSum = sends.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    if (profile && profiler && profileFile) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      profiler.disconnect();
    }
    await first.stop();
    return {
      eventsPerSec: rows / ((tEnd - t0) / 1000),
      cpuUsPerEvent,
      transactions: sendCount,
      eventsPerTransaction: Math.round(rows / Math.max(1, sendCount)),
      transactionMsMean: Number(((sendSum / Math.max(1, sendCount)) * 1000).toFixed(1)),
    };
  }
  const load = () => os.loadavg().map((l) => Number(l.toFixed(1)));
  const loadAtCatchUp = load();
  const direct = await catchUpRun({}, true);
  const catchUp = direct.eventsPerSec;
  const producerCpuUsPerEvent = direct.cpuUsPerEvent;

  // 1c. the same catch-up with every Kafka round trip `kafkaDelayMs` longer (a fresh pipeline name).
  const kafkaDelayMs = Number(process.env.BENCH_KAFKA_DELAY_MS ?? 0);
  let delayed: (Awaited<ReturnType<typeof catchUpRun>> & { delayMs: number }) | undefined;
  if (kafkaDelayMs > 0) {
    const proxy = spawn(
      process.execPath,
      [
        new URL('./latency-proxy.ts', import.meta.url).pathname,
        need('KAFKA_BROKERS').split(',')[0] ?? '',
        String(kafkaDelayMs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const port = await new Promise<number>((resolve, reject) => {
        proxy.once('exit', (code) => reject(new Error(`latency proxy exited (${code})`)));
        proxy.stdout?.on('data', (d: Buffer) => {
          const m = /port (\d+)/.exec(String(d));
          if (m) resolve(Number(m[1]));
        });
      });
      const run = await catchUpRun({ brokers: `127.0.0.1:${port}`, prefix: `${prefix}d` }, false);
      delayed = { delayMs: kafkaDelayMs, ...run };
    } finally {
      proxy.kill('SIGTERM');
    }
  }

  // 2. live: commit → ack per transaction while the producer streams.
  const commits = new Map<string, { sequence: bigint; at: number }>();
  // Acks are recorded by source sequence on their own: an ack can arrive before the writer has even
  // read back the GTID of its commit. A commit is acknowledged by the first ack at or past its sequence.
  const acks: Array<{ sequence: bigint; at: number }> = [];
  const registry = new Registry();
  const live = await startProducer(config('latest'), {
    log,
    metrics: createProducerMetrics(registry),
    onAck: (_cp, items) => {
      const now = performance.now();
      for (const item of items) {
        if (item.records.length === 0 && item.progress.gtid)
          acks.push({ sequence: sequenceOfState(flavor, item.progress.gtid), at: now });
      }
    },
  });
  // 'latest' may resume the catch-up checkpoint of the same pipeline name: wait until streaming.
  while (!live.isReady()) await new Promise((r) => setTimeout(r, 50));
  const tLive = performance.now();
  let lastGtid = '';
  for (let i = 0; i < liveTxns; i++) {
    const c = await commitTxn();
    commits.set(c.gtid, { sequence: c.sequence, at: c.at });
    lastGtid = c.gtid;
  }
  const ackOf = (sequence: bigint) => acks.find((a) => a.sequence >= sequence)?.at;
  while (
    [...commits.values()].some((c) => ackOf(c.sequence) === undefined) &&
    performance.now() - tLive < 120_000
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const latencies = [...commits.values()].flatMap((c) => {
    const ack = ackOf(c.sequence);
    return ack === undefined ? [] : [ack - c.at];
  });
  const liveSeconds = (Math.max(...acks.map((a) => a.at)) - tLive) / 1000;
  await live.stop();

  console.log(
    JSON.stringify(
      {
        source: (await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v'))[0][0]?.v,
        rowsPerTxn,
        catchUp: {
          rows,
          rawBinlogRowsPerSec: Math.round(raw),
          producerEventsPerSec: Math.round(catchUp),
          ratio: Number((catchUp / raw).toFixed(2)),
          // CPU of this process per row: the decoder alone, and the producer (decode + envelope + Kafka).
          rawCpuUsPerRow: Number(rawCpuUsPerRow.toFixed(1)),
          producerCpuUsPerEvent: Number(producerCpuUsPerEvent.toFixed(1)),
          cpuRatio: Number((rawCpuUsPerRow / producerCpuUsPerEvent).toFixed(2)),
          transactions: direct.transactions,
          eventsPerTransaction: direct.eventsPerTransaction,
          transactionMsMean: direct.transactionMsMean,
          loadAverage: loadAtCatchUp,
        },
        ...(delayed
          ? {
              catchUpDelayed: {
                kafkaDelayMsPerRoundTrip: delayed.delayMs,
                producerEventsPerSec: Math.round(delayed.eventsPerSec),
                ratio: Number((delayed.eventsPerSec / raw).toFixed(2)),
                versusUndelayed: Number((delayed.eventsPerSec / catchUp).toFixed(2)),
                producerCpuUsPerEvent: Number(delayed.cpuUsPerEvent.toFixed(1)),
                transactions: delayed.transactions,
                eventsPerTransaction: delayed.eventsPerTransaction,
                transactionMsMean: delayed.transactionMsMean,
                loadAverage: load(),
              },
            }
          : {}),
        live: {
          txns: liveTxns,
          rows: liveTxns * rowsPerTxn,
          acked: latencies.length,
          eventsPerSec: Math.round((liveTxns * rowsPerTxn) / liveSeconds),
          commitToAckMsP50: Number(pct(latencies, 50).toFixed(1)),
          commitToAckMsP99: Number(pct(latencies, 99).toFixed(1)),
          lastGtid,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await admin.query(`REVOKE SELECT ON ${benchGrant} FROM ${cdcAccount}`).catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.end();
  const kafka = createKafkaAdmin({ brokers: need('KAFKA_BROKERS').split(','), clientId: 'bench-cleanup' });
  // ${prefix}. and the delayed run's ${prefix}d.
  const topics = (await kafka.listTopics()).filter((t) => t.startsWith(prefix));
  await kafka.deleteTopics(topics).catch(() => undefined);
  await kafka.close();
}
