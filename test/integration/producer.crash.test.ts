// kill -9 of the producer process while a Kafka transaction of it is open, in the middle of a load,
// then a restart: every committed row reaches Kafka, each row's changes stay in order, and (events
// and checkpoint being one Kafka transaction) nothing is published twice. Two timings: the restart
// right away (its own initialisation aborts the open transaction), and the restart once the broker
// has aborted it by itself (transaction timeout), which leaves the checkpoint topic ending with an
// aborted transaction and its abort marker.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointTopic } from '../../runtime/core/checkpoint/format.ts';
import { readCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { brokers, deleteTopics, randomServerId, readTopic, waitFor } from '../support/producer.ts';
import { freePort } from '../support/wait.ts';

type Envelope = {
  op: string;
  after: { id: number; v: number } | null;
  source: { gtid: string; row: number };
};

const PER_TXN = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('producer: kill -9 with a Kafka transaction open, during a load', () => {
  let db: TestDatabase;
  const prefixes: string[] = [];
  const children: ChildProcess[] = [];

  const start = (prefix: string, table: string, port: number) => {
    const child = spawn(process.execPath, ['runtime/producer/main.ts'], {
      env: {
        ...process.env,
        MYSQL_CDC_URL: db.cdcUrl,
        PRODUCER_DATABASES: db.name,
        PRODUCER_TABLES: table,
        KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
        TOPIC_PREFIX: prefix,
        TOPIC_PARTITIONS: '3',
        PRODUCER_SERVER_ID: String(randomServerId()),
        START_FROM: 'latest',
        PRODUCER_METRICS_PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const p of prefixes) await deleteTopics(p).catch(() => undefined);
    await db?.drop();
  });

  /**
   * Committed ends (last stable offsets) and log ends of the pipeline's topics, summed over their
   * partitions: the checkpoint topic and the change topic. A Kafka transaction is open while the log
   * end is ahead; it spans several produce requests, and the checkpoint joins it with the last one.
   */
  async function pipelineEnds(prefix: string, table: string): Promise<{ stable: bigint; log: bigint }> {
    const admin = createKafkaAdmin({ brokers: brokers(), clientId: `crash-ends-${uniqueSuffix()}` });
    const topics = [checkpointTopic(prefix), `${prefix}.${db.name}.${table}`];
    const sum = (m: Map<string, bigint[]>) => [...m.values()].flat().reduce((a, b) => a + b, 0n);
    try {
      const [stable, log] = await Promise.all([admin.endOffsets(topics), admin.highWatermarks(topics)]);
      return { stable: sum(stable), log: sum(log) };
    } finally {
      await admin.close();
    }
  }

  /**
   * Freezes the producer until it is caught with a transaction open in its topics (still
   * open half a second later, so not a commit being completed), then kills it with SIGKILL.
   */
  async function killWithTransactionOpen(child: ChildProcess, prefix: string, table: string): Promise<void> {
    for (let attempt = 0; attempt < 300; attempt++) {
      child.kill('SIGSTOP');
      let ends = await pipelineEnds(prefix, table);
      if (ends.log > ends.stable) {
        await sleep(500);
        ends = await pipelineEnds(prefix, table);
      }
      if (ends.log > ends.stable) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        return;
      }
      child.kill('SIGCONT');
      await sleep(5 + Math.floor(Math.random() * 40));
    }
    throw new Error('the producer was never caught with a transaction open');
  }

  async function scenario(opts: { rows: number; updated: number; waitForBrokerAbort: boolean }) {
    const prefix = `t${uniqueSuffix()}`;
    prefixes.push(prefix);
    const table = `loadrows_${prefixes.length}`;
    await db.admin.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT NOT NULL)`);
    const where = { brokers: brokers(), topicPrefix: prefix, name: prefix };
    const first = start(prefix, table, await freePort());
    await waitFor('the first checkpoint', async () => (await readCheckpoint(where)) !== null, 30_000);

    const load = (async () => {
      for (let i = 0; i < opts.rows; i += PER_TXN) {
        const values = Array.from({ length: PER_TXN }, (_, j) => `(${i + j}, 0)`).join(',');
        await db.admin.query(`INSERT INTO ${table} VALUES ${values}`);
      }
      // Second and third change of some rows: their order must survive the crash.
      for (let i = 0; i < opts.updated; i += PER_TXN) {
        await db.admin.query(`UPDATE ${table} SET v = 1 WHERE id >= ? AND id < ?`, [i, i + PER_TXN]);
        await db.admin.query(`UPDATE ${table} SET v = 2 WHERE id >= ? AND id < ?`, [i, i + PER_TXN]);
      }
    })();

    // Kill once part of the load is in Kafka, while the rest is still being written and read.
    const firstGtid = (await readCheckpoint(where))?.gtid;
    await waitFor('some progress', async () => (await readCheckpoint(where))?.gtid !== firstGtid, 30_000);
    await killWithTransactionOpen(first, prefix, table);
    // Read while the transaction is open: the last checkpoint committed before it.
    const atKill = await readCheckpoint(where);
    await load;

    if (opts.waitForBrokerAbort) {
      // Nothing initialises the transactional id meanwhile: the broker aborts the open transaction
      // when its timeout passes, writing the abort marker after the last committed checkpoint.
      const t0 = Date.now();
      await waitFor(
        'the broker aborting the open transaction',
        async () => {
          const ends = await pipelineEnds(prefix, table);
          return ends.log === ends.stable;
        },
        120_000,
        250,
      );
      console.log(`broker aborted the open transaction ${Date.now() - t0} ms after the kill`);
      // Aborted, not committed: the committed checkpoint did not move, and it is read to the end.
      expect(await readCheckpoint(where, 10_000)).toEqual(atKill);
    }

    const port = await freePort();
    const second = start(prefix, table, port);
    let exited: number | null | undefined;
    second.once('exit', (code) => {
      exited = code;
    });
    await waitFor(
      'the restarted producer ready',
      async () => {
        if (exited !== undefined) throw new Error(`the restarted producer exited (${exited})`);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      60_000,
      200,
    );
    const topic = `${prefix}.${db.name}.${table}`;
    const expected = opts.rows + 2 * opts.updated;
    const messages = await readTopic(topic, (m) => m.length >= expected, 120_000);
    // Nothing more arrives after the expected count (no duplicates trailing behind).
    const extra = await readTopic(topic, (m) => m.length > expected, 3_000);
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));

    // The kill really interrupted the work: the restart had to publish more.
    expect((await readCheckpoint(where))?.gtid).not.toBe(atKill?.gtid);
    expect(messages.length).toBe(expected);
    expect(extra.length).toBe(expected);
    const seen = new Set<string>();
    const lastVersion = new Map<string, [bigint, number]>();
    const finalValue = new Map<number, number>();
    for (const m of messages) {
      const e = JSON.parse(m.value) as Envelope;
      const id = `${e.source.gtid}/${e.source.row}`;
      expect(seen.has(id)).toBe(false);
      seen.add(id);
      const seq = BigInt(e.source.gtid.split('-')[2] ?? '0');
      const prev = lastVersion.get(m.key);
      if (prev) expect(seq > prev[0] || (seq === prev[0] && e.source.row > prev[1])).toBe(true);
      lastVersion.set(m.key, [seq, e.source.row]);
      if (e.after) finalValue.set(e.after.id, e.after.v);
    }
    expect(finalValue.size).toBe(opts.rows);
    for (let id = 0; id < opts.rows; id++) expect(finalValue.get(id)).toBe(id < opts.updated ? 2 : 0);
  }

  it('restarted right away: loses nothing, keeps per-row order and publishes no duplicates', async () => {
    await scenario({ rows: 50_000, updated: 5_000, waitForBrokerAbort: false });
  }, 240_000);

  it('restarted after the broker aborted the open transaction: becomes ready and loses nothing', async () => {
    await scenario({ rows: 20_000, updated: 2_000, waitForBrokerAbort: true });
  }, 300_000);
});
