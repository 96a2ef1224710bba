// DDL while streaming, the initial snapshot (and resuming it), and the start positions, against the
// real MariaDB and Kafka.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSourcePosition, readSourceState } from '../../runtime/core/binlog/source.ts';
import { writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { createProducerMetrics } from '../../runtime/producer/metrics.ts';
import { startProducer } from '../../runtime/producer/service.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { brokers, deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';

type Envelope = {
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: { gtid: string; row: number; snapshot: string };
};
const parse = (ms: Awaited<ReturnType<typeof readTopic>>) =>
  ms.filter((m) => m.value).map((m) => JSON.parse(m.value) as Envelope);
const byId = (es: Envelope[]) => [...es].sort((a, b) => Number(a.after?.id) - Number(b.after?.id));

describe('producer: schema changes, snapshot and start positions', () => {
  let db: TestDatabase;
  const prefixes: string[] = [];
  const config = (env: Record<string, string>): ProducerConfig => {
    const cfg = producerConfig(db, env);
    prefixes.push(cfg.topicPrefix);
    return cfg;
  };

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
  });

  afterAll(async () => {
    for (const p of prefixes) await deleteTopics(p).catch(() => undefined);
    await db?.drop();
  });

  it('keeps the right column names through ADD/DROP/MODIFY COLUMN and picks up new tables', async () => {
    await db.admin.query('CREATE TABLE evolving (id INT PRIMARY KEY, a VARCHAR(10))');
    const cfg = config({ PRODUCER_TABLES: 'evolving,fresh' });
    const p = await runProducer(cfg);
    try {
      await db.admin.query("INSERT INTO evolving VALUES (1, 'x')");
      await db.admin.query(
        'ALTER TABLE evolving ADD COLUMN b INT NOT NULL DEFAULT 5, ADD COLUMN c VARCHAR(5) NULL',
      );
      await db.admin.query("INSERT INTO evolving VALUES (2, 'y', 6, 'z')");
      await db.admin.query('ALTER TABLE evolving DROP COLUMN a');
      await db.admin.query('UPDATE evolving SET b = 7 WHERE id = 2');
      await db.admin.query('ALTER TABLE evolving MODIFY COLUMN b BIGINT NOT NULL');
      await db.admin.query("INSERT INTO evolving VALUES (3, 9007199254740993, 'w')");
      await db.admin.query('CREATE TABLE fresh (k VARCHAR(8) PRIMARY KEY, n INT)');
      await db.admin.query("INSERT INTO fresh VALUES ('k1', 1)");

      const events = parse(await readTopic(`${cfg.topicPrefix}.${db.name}.evolving`, (m) => m.length >= 4));
      const rows = (id: number) => events.filter((e) => e.after?.id === id);
      expect(rows(1)[0]?.after).toEqual({ id: 1, a: 'x' });
      expect(rows(2)[0]?.after).toEqual({ id: 2, a: 'y', b: 6, c: 'z' });
      expect(rows(2)[1]?.before).toEqual({ id: 2, b: 6, c: 'z' });
      expect(rows(2)[1]?.after).toEqual({ id: 2, b: 7, c: 'z' });
      expect(rows(3)[0]?.after).toEqual({ id: 3, b: '9007199254740993', c: 'w' });
      const fresh = parse(await readTopic(`${cfg.topicPrefix}.${db.name}.fresh`, (m) => m.length >= 1));
      expect(fresh[0]?.after).toEqual({ k: 'k1', n: 1 });
    } finally {
      await p.stop();
    }
  });

  it('snapshots existing rows (op r) in chunks, then streams from the snapshot position', async () => {
    await db.admin.query('CREATE TABLE snap (id INT PRIMARY KEY, v VARCHAR(10))');
    await db.admin.query(
      `INSERT INTO snap VALUES ${Array.from({ length: 12 }, (_, i) => `(${i + 1}, 'v${i + 1}')`).join(',')}`,
    );
    const cfg = config({ PRODUCER_TABLES: 'snap', SNAPSHOT_MODE: 'initial', SNAPSHOT_CHUNK_ROWS: '5' });
    const p = await runProducer(cfg);
    try {
      await db.admin.query("INSERT INTO snap VALUES (13, 'v13')");
      const events = parse(await readTopic(`${cfg.topicPrefix}.${db.name}.snap`, (m) => m.length >= 13));
      const snap = events.filter((e) => e.op === 'r');
      expect(byId(snap).map((e) => e.after?.id)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      for (const e of snap) expect(e.source.snapshot).toBe('true');
      const created = events.filter((e) => e.op === 'c');
      expect(created.map((e) => e.after)).toEqual([{ id: 13, v: 'v13' }]);
      const progress = await p.registry.getSingleMetric('producer_snapshot_rows_total')?.get();
      expect(progress?.values[0]?.value).toBe(12);
    } finally {
      await p.stop();
    }
  });

  it('snapshots a table without a primary key streamed from one view, in bounded chunks', async () => {
    const ROWS = 20_000;
    const CHUNK = 1_000;
    await db.admin.query('CREATE TABLE keyless (n INT NOT NULL, pad VARCHAR(200) NOT NULL)');
    for (let i = 0; i < ROWS; i += 5_000) {
      const values = Array.from({ length: 5_000 }, (_, j) => `(${i + j}, REPEAT('p', 100))`).join(',');
      await db.admin.query(`INSERT INTO keyless VALUES ${values}`);
    }
    const cfg = config({
      PRODUCER_TABLES: 'keyless',
      SNAPSHOT_MODE: 'initial',
      SNAPSHOT_CHUNK_ROWS: String(CHUNK),
    });
    const registry = new Registry();
    const metrics = createProducerMetrics(registry);
    // The most records ever waiting for Kafka (the publisher sets the gauge on every change): the
    // snapshot's memory.
    let maxQueued = 0;
    const setQueued = metrics.queuedRecords.set.bind(metrics.queuedRecords);
    metrics.queuedRecords.set = ((v: number) => {
      maxQueued = Math.max(maxQueued, v);
      setQueued(v);
    }) as typeof metrics.queuedRecords.set;
    let transactions = 0;
    const p = await startProducer(cfg, {
      log: createLogger('producer-test', cfg.logLevel),
      metrics,
      onAck: () => {
        transactions++;
      },
    });
    try {
      const events = parse(
        await readTopic(`${cfg.topicPrefix}.${db.name}.keyless`, (m) => m.length >= ROWS, 120_000),
      );
      expect(events).toHaveLength(ROWS);
      for (const e of events) expect(e.op).toBe('r');
      expect(new Set(events.map((e) => e.after?.n)).size).toBe(ROWS);
      // One consistent view, published in many Kafka transactions with at most a chunk in memory.
      expect(transactions).toBeGreaterThanOrEqual(ROWS / CHUNK);
      expect(maxQueued).toBeGreaterThan(0);
      expect(maxQueued).toBeLessThanOrEqual(CHUNK);
      expect((await registry.getSingleMetric('producer_snapshot_rows_total')?.get())?.values[0]?.value).toBe(
        ROWS,
      );
      await db.admin.query('INSERT INTO keyless VALUES (-1, "after")');
      const more = parse(
        await readTopic(`${cfg.topicPrefix}.${db.name}.keyless`, (m) => m.length >= ROWS + 1, 30_000),
      );
      expect(more.filter((e) => e.op === 'c').map((e) => e.after?.n)).toEqual([-1]);
    } finally {
      await p.stop();
    }
  }, 180_000);

  it('continues an interrupted snapshot after the last published key', async () => {
    await db.admin.query('CREATE TABLE snap2 (id INT PRIMARY KEY)');
    await db.admin.query(
      `INSERT INTO snap2 VALUES ${Array.from({ length: 10 }, (_, i) => `(${i + 1})`).join(',')}`,
    );
    const cfg = config({ PRODUCER_TABLES: 'snap2', SNAPSHOT_MODE: 'initial', SNAPSHOT_CHUNK_ROWS: '4' });
    const pos = { g: (await readSourceState(db.admin)).gtid };
    await writeCheckpoint(
      { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name },
      {
        v: 1,
        gtid: pos?.g ?? null,
        file: 'unused-bin.000001',
        pos: 4,
        partial: null,
        source_ts_ms: 0,
        ts_ms: Date.now(),
        snapshot: { done: [], table: `${db.name}.snap2`, after: [6] },
      },
    );
    const p = await runProducer(cfg);
    try {
      const events = parse(await readTopic(`${cfg.topicPrefix}.${db.name}.snap2`, (m) => m.length >= 4));
      expect(byId(events).map((e) => e.after?.id)).toEqual([7, 8, 9, 10]);
      expect(parse(await readTopic(`${cfg.topicPrefix}.${db.name}.snap2`, () => false, 1500))).toHaveLength(
        4,
      );
    } finally {
      await p.stop();
    }
  });

  it('starts from a GTID, a file position or a timestamp when there is no checkpoint', async () => {
    await db.admin.query('CREATE TABLE starts (id INT PRIMARY KEY)');
    await db.admin.query('INSERT INTO starts VALUES (1)');
    const here = await readSourcePosition(db.admin);
    const gtid = { g: here.gtid };
    const status = { File: here.file, Position: here.pos };
    await new Promise((r) => setTimeout(r, 1100)); // binlog timestamps have second resolution
    const at = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await db.admin.query('INSERT INTO starts VALUES (2)');

    for (const start of [
      `gtid:${gtid?.g}`,
      `position:${status?.File}:${status?.Position}`,
      `timestamp:${at}`,
    ]) {
      const cfg = config({ PRODUCER_TABLES: 'starts', START_FROM: start });
      const p = await runProducer(cfg);
      try {
        const topic = `${cfg.topicPrefix}.${db.name}.starts`;
        await readTopic(topic, (m) => m.length >= 1, 20_000);
        const events = parse(await readTopic(topic, () => false, 1500));
        expect({ start, ids: events.map((e) => e.after?.id) }).toEqual({ start, ids: [2] });
      } finally {
        await p.stop();
      }
    }
  });
});
