// Exact values: SQL row → binlog → producer → Kafka message, checked field by field against the
// real MariaDB and Kafka of the test stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';

describe('producer: exact values round-trip', () => {
  let db: TestDatabase;
  let cfg: ProducerConfig;
  let producer: Awaited<ReturnType<typeof runProducer>>;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query(`CREATE TABLE exact_values (
      id BIGINT UNSIGNED PRIMARY KEY,
      amount DECIMAL(30,10), big BIGINT, small_big BIGINT, doc JSON,
      created DATETIME(6), stamped TIMESTAMP(6) NULL, day DATE,
      note VARCHAR(100) CHARACTER SET utf8mb4, bytes VARBINARY(16), blob_col BLOB,
      kind ENUM('card','bank, transfer','wallet'), flags SET('a','b','c'), maybe INT NULL)`);
    cfg = producerConfig(db, { PRODUCER_TABLES: 'exact_values' });
    producer = await runProducer(cfg);
  });

  afterAll(async () => {
    await producer?.stop();
    await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  it('publishes DECIMAL, BIGINT, JSON, DATETIME/TIMESTAMP, utf8mb4, NULL, binary, ENUM and SET exactly', async () => {
    await db.admin.query(
      `INSERT INTO exact_values VALUES
        (18446744073709551615, '-12345678901234567890.0123456789', 9223372036854775807, 42,
         '{"n": 12345678901234567890, "s": "é😀", "f": 0.1}',
         '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.000001', '2024-02-29',
         'héllo 😀 — ✓', X'00FF10', X'DEADBEEF', 'bank, transfer', 'a,c', NULL)`,
    );
    await db.admin.query('UPDATE exact_values SET maybe = 7 WHERE id = 18446744073709551615');
    await db.admin.query('DELETE FROM exact_values WHERE id = 18446744073709551615');

    const topic = `${cfg.topicPrefix}.${db.name}.exact_values`;
    const messages = await readTopic(topic, (m) => m.length >= 4);
    expect(messages).toHaveLength(4);
    const [create, update, del, tombstone] = messages;
    const key = JSON.stringify({ id: '18446744073709551615' });
    for (const m of messages) expect(m.key).toBe(key);

    const c = JSON.parse(create?.value ?? 'null');
    expect(c.op).toBe('c');
    expect(c.before).toBeNull();
    expect(c.after).toEqual({
      id: '18446744073709551615',
      amount: '-12345678901234567890.0123456789',
      big: '9223372036854775807',
      small_big: 42,
      doc: '{"n": 12345678901234567890, "s": "é😀", "f": 0.1}',
      created: '2024-02-29T23:59:59.123456Z',
      stamped: '2024-02-29T23:59:59.000001Z',
      day: '2024-02-29',
      note: 'héllo 😀 — ✓',
      bytes: Buffer.from([0x00, 0xff, 0x10]).toString('base64'),
      blob_col: Buffer.from('deadbeef', 'hex').toString('base64'),
      kind: 'bank, transfer',
      flags: 'a,c',
      maybe: null,
    });
    expect(c.source).toMatchObject({
      connector: 'mysql',
      db: db.name,
      table: 'exact_values',
      snapshot: 'false',
      row: 0,
    });
    expect(c.source.gtid).toMatch(/^0-2-\d+$/);
    expect(c.source.file).toMatch(/bin\.\d+$/);
    expect(c.source.pos).toBeGreaterThan(4);

    const u = JSON.parse(update?.value ?? 'null');
    expect(u.op).toBe('u');
    expect(u.before.maybe).toBeNull();
    expect(u.after.maybe).toBe(7);
    expect(u.after.amount).toBe('-12345678901234567890.0123456789');

    const d = JSON.parse(del?.value ?? 'null');
    expect(d.op).toBe('d');
    expect(d.after).toBeNull();
    expect(d.before.note).toBe('héllo 😀 — ✓');
    expect(tombstone?.value ?? null).toBeNull();

    // Three transactions, in order.
    const seq = (m: typeof create) => BigInt(JSON.parse(m?.value ?? '{}').source.gtid.split('-')[2]);
    expect(seq(update)).toBeGreaterThan(seq(create));
    expect(seq(del)).toBeGreaterThan(seq(update));
  });
});

type Row = Record<string, unknown>;

/**
 * The `after` images of a table's first `count` events (by the integer column `id`), as published by
 * a streaming producer (op c) and by a snapshot of the same rows (op r): both paths must agree with
 * MariaDB. The streaming producer must already run when the rows are written.
 */
async function afterImages(
  db: TestDatabase,
  cfg: ProducerConfig,
  table: string,
  count: number,
  snapshot: boolean,
): Promise<Map<number, Row>> {
  const topic = `${cfg.topicPrefix}.${db.name}.${table}`;
  const op = snapshot ? 'r' : 'c';
  const messages = await readTopic(topic, (m) => m.length >= count, 120_000);
  const out = new Map<number, Row>();
  for (const m of messages) {
    const e = JSON.parse(m.value ?? 'null');
    if (e?.op === op) out.set(Number(e.after.id), e.after);
  }
  return out;
}

/** What MariaDB itself returns for every row: `SELECT id, <expr> AS <alias>, ...` as text. */
async function mariadbText(db: TestDatabase, table: string, exprs: Record<string, string>) {
  const cols = Object.entries(exprs).map(([alias, expr]) => `${expr} AS \`${alias}\``);
  const [rows] = (await db.admin.query(
    `SELECT id, ${cols.join(', ')} FROM ${table} ORDER BY id`,
  )) as unknown as [Array<Record<string, string | number | null>>];
  return rows;
}

/** Writes rows with a streaming producer running, then snapshots them with a second one. */
async function publishBothWays(
  db: TestDatabase,
  tables: string,
  write: () => Promise<void>,
): Promise<{ stream: ProducerConfig; snap: ProducerConfig }> {
  const stream = producerConfig(db, { PRODUCER_TABLES: tables });
  const p = await runProducer(stream);
  try {
    await write();
    // Everything written is published once the marker row (written last) is.
    await readTopic(`${stream.topicPrefix}.${db.name}.marker`, (m) => m.length >= 1, 60_000);
  } finally {
    await p.stop();
  }
  const snap = producerConfig(db, { PRODUCER_TABLES: tables, SNAPSHOT_MODE: 'initial' });
  const s = await runProducer(snap);
  try {
    await readTopic(`${snap.topicPrefix}.${db.name}.marker`, (m) => m.length >= 1, 60_000);
  } finally {
    await s.stop();
  }
  return { stream, snap };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** TIME literals over the whole range: every hour, the zero-second/zero-minute negatives, a full minute/second grid, the bounds and random values with 6-digit fractions. */
function timeLiterals(): string[] {
  const out = new Set<string>(['838:59:59', '-838:59:59', '838:59:59.999999', '-838:59:59.999999']);
  out.add('00:00:00').add('-00:00:00.000001').add('-00:00:00.5').add('00:00:00.000001').add('-00:00:01');
  for (let h = 0; h <= 838; h++) {
    for (const ms of ['00:00', '59:59', '01:00', '59:00', '00:01']) {
      out.add(`-${pad(h)}:${ms}`);
      out.add(`${pad(h)}:${ms}`);
    }
    out.add(`-${pad(h)}:00:00.000000`);
    out.add(`-${pad(h)}:30:00.${pad(Math.floor(Math.random() * 1e6), 6)}`);
  }
  for (let m = 0; m < 60; m++) for (let s = 0; s < 60; s++) out.add(`-12:${pad(m)}:${pad(s)}`);
  let seed = 18;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 1500; i++) {
    const frac = i % 3 === 0 ? '' : `.${pad(rnd(1_000_000), 6)}`;
    const frac0 = i % 3 === 1 ? `.${pad(rnd(10) * 100_000, 6)}` : frac; // fractions that truncate to zero
    out.add(`${rnd(2) ? '-' : ''}${pad(rnd(839))}:${pad(rnd(60))}:${pad(rnd(60))}${frac0}`);
  }
  return [...out];
}

describe('producer: TIME and YEAR over their whole range, against MariaDB', () => {
  let db: TestDatabase;
  let cfgs: { stream: ProducerConfig; snap: ProducerConfig };
  const times = timeLiterals();
  const timeCols = ['t0', 't1', 't2', 't3', 't4', 't5', 't6'];

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query(
      `CREATE TABLE times (id INT PRIMARY KEY, ${timeCols.map((c, i) => `${c} TIME(${i})`).join(', ')})`,
    );
    await db.admin.query('CREATE TABLE years (id INT PRIMARY KEY, y YEAR)');
    await db.admin.query('CREATE TABLE marker (id INT PRIMARY KEY)');
    cfgs = await publishBothWays(db, 'times,years,marker', async () => {
      for (let i = 0; i < times.length; i += 1000) {
        const chunk = times.slice(i, i + 1000);
        await db.admin.query(
          `INSERT INTO times VALUES ${chunk.map((_, j) => `(${i + j}, ${timeCols.map(() => '?').join(',')})`).join(',')}`,
          chunk.flatMap((t) => timeCols.map(() => t)),
        );
      }
      // 0000 and every year 1901..2155 (the string '0000'; the number 0 would also be 0000).
      const years = ['0000', ...Array.from({ length: 255 }, (_, i) => String(1901 + i))];
      await db.admin.query(`INSERT INTO years VALUES ${years.map((y, i) => `(${i}, '${y}')`).join(',')}`);
      await db.admin.query('INSERT INTO marker VALUES (1)');
    });
  }, 600_000);

  afterAll(async () => {
    for (const c of [cfgs?.stream, cfgs?.snap])
      if (c) await deleteTopics(c.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  for (const path of ['stream', 'snap'] as const) {
    it(`publishes every TIME(0..6) value as MariaDB's own text (${path})`, async () => {
      const expected = await mariadbText(
        db,
        'times',
        Object.fromEntries(timeCols.map((c) => [c, `CAST(${c} AS CHAR)`])),
      );
      expect(expected).toHaveLength(times.length);
      const got = await afterImages(db, cfgs[path], 'times', times.length, path === 'snap');
      const wrong: string[] = [];
      for (const row of expected) {
        const after = got.get(Number(row.id));
        for (const c of timeCols) {
          if (after?.[c] !== row[c])
            wrong.push(`${times[Number(row.id)]} ${c}: ${String(after?.[c])} ≠ ${row[c]}`);
        }
      }
      expect(wrong.slice(0, 20)).toEqual([]);
      expect(got.size).toBe(times.length);
    });

    it(`publishes YEAR 0000 and 1901..2155 as the year number (${path})`, async () => {
      const expected = await mariadbText(db, 'years', { y: 'CAST(y AS CHAR)' });
      expect(expected).toHaveLength(256);
      const got = await afterImages(db, cfgs[path], 'years', 256, path === 'snap');
      for (const row of expected) {
        const y = got.get(Number(row.id))?.y;
        expect(typeof y).toBe('number');
        expect(pad(Number(y), 4)).toBe(row.y);
      }
    });
  }
});
