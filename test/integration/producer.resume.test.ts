// Checkpoint and resume against the real MariaDB and Kafka: a stopped producer resumes exactly where
// its checkpoint says (nothing lost, nothing repeated), a large transaction is cut across Kafka
// transactions with bounded memory, and the checkpoint can be read and rewritten by other tools.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { commitAndLocate, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import {
  brokers,
  deleteTopics,
  producerConfig,
  readTopic,
  runProducer,
  waitFor,
} from '../support/producer.ts';

type Envelope = {
  op: string;
  after: { id: number; v: number } | null;
  source: { gtid: string; row: number };
};

describe('producer: checkpoint and resume', () => {
  let db: TestDatabase;
  let cfg: ProducerConfig;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query('CREATE TABLE items (id INT PRIMARY KEY, v INT NOT NULL)');
    cfg = producerConfig(db, {
      PRODUCER_TABLES: 'items',
      PRODUCER_BATCH_RECORDS: '500',
      PRODUCER_MAX_QUEUED_RECORDS: '2000',
    });
  });

  afterAll(async () => {
    await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  it('resumes after a stop without losing or repeating a change, including a large transaction', async () => {
    const where = { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name };
    const topic = `${cfg.topicPrefix}.${db.name}.items`;
    let p = await runProducer(cfg);
    await db.admin.query('INSERT INTO items VALUES (1, 1), (2, 1)');
    await waitFor(
      'first checkpoint with the insert',
      async () => (await readCheckpoint(where))?.gtid !== null,
    );
    await p.stop();

    // While the producer is down: more commits, one of them large (20k rows in one transaction).
    await db.admin.query('UPDATE items SET v = 2 WHERE id = 1');
    const conn = await db.admin.getConnection();
    try {
      await conn.beginTransaction();
      for (let start = 10; start < 20_010; start += 1000) {
        const values = Array.from({ length: 1000 }, (_, i) => `(${start + i}, 0)`).join(',');
        await conn.query(`INSERT INTO items VALUES ${values}`);
      }
      await conn.commit();
    } finally {
      conn.release();
    }
    await db.admin.query('DELETE FROM items WHERE id = 2');

    p = await runProducer(cfg);
    let maxQueued = 0;
    const gauge = p.registry.getSingleMetric('producer_queued_records');
    const sampler = setInterval(async () => {
      const v = (await gauge?.get())?.values[0]?.value ?? 0;
      maxQueued = Math.max(maxQueued, v);
    }, 5);
    const expected = 2 + 1 + 20_000 + 2; // inserts, update, large insert, delete + tombstone
    const messages = await readTopic(topic, (m) => m.length >= expected, 60_000);
    clearInterval(sampler);
    await p.stop();

    expect(messages.length).toBe(expected);
    const events = messages.filter((m) => m.value).map((m) => JSON.parse(m.value) as Envelope);
    // No duplicates: every (gtid, row) appears once.
    const ids = new Set(events.map((e) => `${e.source.gtid}/${e.source.row}`));
    expect(ids.size).toBe(events.length);
    // The large transaction: one GTID, rows 0..19999 in order.
    const large = events.filter((e) => e.after && e.after.id >= 10);
    expect(large).toHaveLength(20_000);
    expect(new Set(large.map((e) => e.source.gtid)).size).toBe(1);
    expect(large.map((e) => e.source.row).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20_000 }, (_, i) => i),
    );
    // Within each partition the rows of the transaction keep their binlog order.
    const lastRowOfPartition = new Map<number, number>();
    for (const m of messages) {
      if (!m.value) continue;
      const e = JSON.parse(m.value) as Envelope;
      if (!e.after || e.after.id < 10) continue;
      expect(e.source.row).toBeGreaterThan(lastRowOfPartition.get(m.partition) ?? -1);
      lastRowOfPartition.set(m.partition, e.source.row);
    }
    // Bounded: the reader paused instead of queueing the whole transaction.
    expect(maxQueued).toBeLessThan(20_000);

    const cp = await readCheckpoint(where);
    expect(cp?.partial).toBeNull();
  });

  it('resumes in the middle of a large transaction from a partial checkpoint without repeats', async () => {
    const where = { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name };
    const topic = `${cfg.topicPrefix}.${db.name}.items`;
    const cp = await readCheckpoint(where);
    expect(cp).not.toBeNull();
    if (!cp?.gtid) throw new Error('no checkpoint');
    // Commit 3000 rows in one transaction, then pretend the first 1200 were already published.
    const big = await commitAndLocate(
      db.admin,
      `INSERT INTO items VALUES ${Array.from({ length: 3000 }, (_, i) => `(${100_000 + i}, 5)`).join(',')}`,
    );
    await writeCheckpoint(where, { ...cp, partial: { gtid: big.gtid, rows: 1200 }, ts_ms: Date.now() });

    const p = await runProducer(cfg);
    const isFresh = (e: Envelope) => (e.after?.id ?? 0) >= 100_000;
    const freshOf = (ms: Awaited<ReturnType<typeof readTopic>>) =>
      ms
        .filter((m) => m.value)
        .map((m) => JSON.parse(m.value) as Envelope)
        .filter(isFresh);
    let seen = 0;
    let freshCount = 0;
    const messages = await readTopic(
      topic,
      (m) => {
        for (; seen < m.length; seen++) {
          const v = m[seen]?.value;
          if (v && isFresh(JSON.parse(v) as Envelope)) freshCount++;
        }
        return freshCount >= 1800;
      },
      30_000,
    );
    await p.stop();
    const fresh = freshOf(messages);
    expect(fresh).toHaveLength(1800);
    const rows = fresh.map((e) => e.source.row).sort((a, b) => a - b);
    expect(rows[0]).toBe(1200);
    expect(rows.at(-1)).toBe(2999);
    expect(new Set(fresh.map((e) => e.after?.id)).size).toBe(1800);
    expect(Math.min(...fresh.map((e) => e.after?.id ?? 0))).toBe(101_200);
  });
});
