// Kafka stopped or hung, and MariaDB restarted, under the real producer. The suite starts a private
// MariaDB and Kafka (the `outage` stack profile: own ports, own data) because stopping the shared
// test stack's servers would break the suites running beside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUp } from '../../runtime/core/db/migrate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { type ConsumedMessage, createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { uniqueSuffix } from '../support/env.ts';
import { grantCdcRead, withDatabase } from '../support/mysql.ts';
import { privateStack } from '../support/private-stack.ts';
import { producerConfig, readTopic, runProducer, waitFor } from '../support/producer.ts';

const MAX_QUEUED = 500;
const outageStack = privateStack('outage', ['mariadb', 'kafka']);
const stack = outageStack.run;
const kafkaPid = () => outageStack.pid('kafka');

type Envelope = {
  op: string;
  before: { id: number; v: number } | null;
  after: { id: number; v: number } | null;
};

/** Per row id, the ops and values in topic order (one row's events share a partition). */
function historyById(messages: ConsumedMessage[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const m of messages) {
    if (!m.value) continue; // tombstones: none here (no deletes)
    const e = JSON.parse(m.value) as Envelope;
    const id = (e.after ?? e.before)?.id ?? -1;
    const list = out.get(id) ?? [];
    list.push(`${e.op}${e.after?.v ?? ''}`);
    out.set(id, list);
  }
  return out;
}

/** What the topic must hold: every row in the table, inserted with v=0, then updated to v=1 if it was. */
async function expectedHistory(pool: Pool, table: string): Promise<Map<number, string[]>> {
  const [rows] = await pool.query(`SELECT id, v FROM \`${table}\` ORDER BY id`);
  const out = new Map<number, string[]>();
  for (const r of rows as Array<{ id: number; v: number }>) out.set(r.id, r.v === 1 ? ['c0', 'u1'] : ['c0']);
  return out;
}

const total = (h: Map<number, string[]>) => [...h.values()].reduce((n, l) => n + l.length, 0);

/** Samples the producer's queue gauge and reader-paused flag until stopped. */
function sampleGauges(p: Awaited<ReturnType<typeof runProducer>>) {
  const seen = { maxQueued: 0, lastQueued: 0, paused: 0 };
  const value = async (name: string) =>
    (await p.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
  const timer = setInterval(() => {
    void Promise.all([value('producer_queued_records'), value('producer_reader_paused')]).then(
      ([q, paused]) => {
        seen.maxQueued = Math.max(seen.maxQueued, q);
        seen.lastQueued = q;
        seen.paused = paused;
      },
    );
  }, 20);
  return { seen, stop: () => clearInterval(timer) };
}

/** Inserts rows [from, to) with v=0 and then updates each to v=1: one row event per statement. */
async function insertThenUpdate(
  pool: Pool,
  table: string,
  from: number,
  to: number,
  perTxn = 25,
): Promise<void> {
  for (const sql of [
    `INSERT INTO \`${table}\` (id, v) VALUES (?, 0)`,
    `UPDATE \`${table}\` SET v = 1 WHERE id = ?`,
  ]) {
    for (let start = from; start < to; start += perTxn) {
      const conn = await pool.getConnection();
      try {
        await conn.query('BEGIN');
        for (let id = start; id < Math.min(to, start + perTxn); id++) await conn.query(sql, [id]);
        await conn.query('COMMIT');
      } finally {
        conn.release();
      }
    }
  }
}

describe('producer: Kafka and MariaDB outages (private servers)', () => {
  let env: Record<string, string> = {};
  let dbName = '';
  let pool: Pool | undefined;
  let sigstopped = false;
  const prefixes: string[] = [];

  beforeAll(async () => {
    await stack('up');
    env = outageStack.env();
    dbName = `payments_o_${uniqueSuffix()}`;
    const root = createPool(env.MYSQL_ADMIN_URL ?? '', { connectionLimit: 1 });
    await root.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await grantCdcRead(root, env.MYSQL_CDC_URL ?? '', dbName); // gone with the stack's data (down)
    await root.end();
    pool = createPool(withDatabase(env.MYSQL_ADMIN_URL ?? '', dbName), { connectionLimit: 2 });
    await migrateUp(pool);
  }, 180_000);

  afterAll(async () => {
    try {
      if (sigstopped) process.kill(kafkaPid(), 'SIGCONT');
      await pool?.query(`DROP DATABASE IF EXISTS \`${dbName}\``).catch(() => undefined);
      await deleteTopics(prefixes).catch(() => undefined); // the broker's data directory is kept
      await pool?.end().catch(() => undefined);
    } finally {
      // Always, also after a failure: the data directory stays, nothing keeps running.
      await stack('down');
    }
  }, 180_000);

  const setUp = async (table: string): Promise<{ cfg: ProducerConfig; topic: string; db: Pool }> => {
    const db = pool as Pool;
    await db.query(`CREATE TABLE \`${table}\` (id INT PRIMARY KEY, v INT NOT NULL)`);
    const cfg = producerConfig(
      { name: dbName, cdcUrl: withDatabase(env.MYSQL_CDC_URL ?? '', dbName) },
      {
        KAFKA_BROKERS: env.KAFKA_BROKERS ?? '',
        PRODUCER_TABLES: table,
        PRODUCER_MAX_QUEUED_RECORDS: String(MAX_QUEUED),
        PRODUCER_BATCH_RECORDS: '200',
      },
    );
    prefixes.push(cfg.topicPrefix);
    return { cfg, topic: `${cfg.topicPrefix}.${dbName}.${table}`, db };
  };

  const brokersOf = () => (env.KAFKA_BROKERS ?? '').split(',');

  const deleteTopics = async (of: string[]) => {
    const admin = createKafkaAdmin({ brokers: brokersOf(), clientId: `outage-cleanup-${uniqueSuffix()}` });
    try {
      const topics = await admin.listTopics();
      await admin.deleteTopics(topics.filter((t) => of.some((prefix) => t.startsWith(`${prefix}.`))));
    } finally {
      await admin.close();
    }
  };

  /** Reads the topic until it holds as many events as expected, then compares per row. */
  const expectTopicToMatch = async (topic: string, expected: Map<number, string[]>) => {
    const messages = await readTopic(topic, (m) => m.length >= total(expected), 60_000, brokersOf());
    // Exactly once (Kafka transactions carry the checkpoint) and in per-row order.
    expect(historyById(messages)).toEqual(expected);
  };

  /** Commits 2 × rows row changes while Kafka is unavailable; the producer must pause, not buffer. */
  const outage = async (
    unavailable: () => Promise<void>,
    available: () => Promise<void>,
    table: string,
    rows: number,
  ) => {
    const { cfg, topic, db } = await setUp(table);
    const p = await runProducer(cfg);
    let settled: string | undefined;
    p.done.then(
      () => {
        settled = 'stopped';
      },
      (err: unknown) => {
        settled = String(err);
      },
    );
    const gauges = sampleGauges(p);
    let down = false;
    try {
      await waitFor('the producer streaming', () => p.isReady());
      await insertThenUpdate(db, table, 0, 10);
      await expectTopicToMatch(topic, await expectedHistory(db, table));

      await unavailable();
      down = true;
      await insertThenUpdate(db, table, 10, 10 + rows);
      // Paused, or buffering past the bound (the failure this test exists for): then a moment more
      // to see whether the queue keeps growing.
      await waitFor(
        'the reader paused',
        () => gauges.seen.paused === 1 || gauges.seen.maxQueued > MAX_QUEUED,
        20_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      expect(gauges.seen.maxQueued).toBeLessThanOrEqual(MAX_QUEUED);
      expect(gauges.seen.paused).toBe(1);
      // The gauge shows the queue that is waiting: full, not idle.
      expect(gauges.seen.lastQueued).toBeGreaterThanOrEqual(MAX_QUEUED / 2);
      expect(settled).toBeUndefined();

      down = false;
      await available();
      await expectTopicToMatch(topic, await expectedHistory(db, table));
      await waitFor('the reader resumed', () => gauges.seen.paused === 0);
      expect(gauges.seen.maxQueued).toBeLessThanOrEqual(MAX_QUEUED);
      expect(settled).toBeUndefined();
    } finally {
      gauges.stop();
      // Stopping flushes to Kafka first: bring it back after a failed assertion, or stop() waits.
      if (down) await available();
      await p.stop();
    }
  };

  it('pauses reading while Kafka is stopped, then publishes every row once, in per-row order', async () => {
    await outage(
      () => stack('stop', 'kafka'),
      () => stack('start', 'kafka'),
      'stopped_kafka',
      2000,
    );
  }, 120_000);

  it('pauses reading while Kafka hangs (SIGSTOP), then publishes every row once, in per-row order', async () => {
    await outage(
      async () => {
        process.kill(kafkaPid(), 'SIGSTOP');
        sigstopped = true;
      },
      async () => {
        process.kill(kafkaPid(), 'SIGCONT');
        sigstopped = false;
      },
      'hung_kafka',
      1000,
    );
  }, 120_000);

  it('reconnects after a MariaDB restart and continues from its checkpoint: no gaps, no repeats', async () => {
    const table = 'restarted_source';
    const { cfg, topic, db } = await setUp(table);
    const p = await runProducer(cfg);
    let settled: string | undefined;
    p.done.then(
      () => {
        settled = 'stopped';
      },
      (err: unknown) => {
        settled = String(err);
      },
    );
    // Writes row after row (insert v=0, update v=1) through the restart; failures while the server
    // is down are skipped: the table, read afterwards, is the truth of what was committed.
    let writing = true;
    const committed = { before: 0, after: 0 };
    let restarted = false;
    await waitFor('the producer streaming', () => p.isReady()).catch(async (err: unknown) => {
      await p.stop();
      throw err;
    });
    const writer = (async () => {
      for (let id = 1; writing; id++) {
        try {
          await db.query(`INSERT INTO \`${table}\` (id, v) VALUES (?, 0)`, [id]);
          await db.query(`UPDATE \`${table}\` SET v = 1 WHERE id = ?`, [id]);
          if (restarted) committed.after++;
          else committed.before++;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    try {
      await waitFor('rows before the restart', () => committed.before >= 200);
      await stack('stop', 'mariadb');
      await stack('start', 'mariadb');
      restarted = true;
      await waitFor('rows after the restart', () => committed.after >= 200, 30_000);
      writing = false;
      await writer;

      await expectTopicToMatch(topic, await expectedHistory(db, table));
      const reconnects = await p.registry.getSingleMetric('producer_binlog_reconnects_total')?.get();
      expect(reconnects?.values[0]?.value).toBeGreaterThanOrEqual(1);
      expect(settled).toBeUndefined();
    } finally {
      writing = false;
      await writer;
      await p.stop();
    }
  }, 120_000);
});
