// Exact values: SQL row → binlog → producer → Kafka message, checked field by field against the
// real MariaDB and Kafka of the test stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { gtidPattern, onMysql } from '../support/flavor.ts';
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
      // MySQL stores JSON as a binary document and prints it with its keys sorted (as SELECT does).
      doc: onMysql()
        ? '{"f": 0.1, "n": 12345678901234567890, "s": "é😀"}'
        : '{"n": 12345678901234567890, "s": "é😀", "f": 0.1}',
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
    expect(c.source.gtid).toMatch(onMysql() ? gtidPattern() : /^0-2-\d+$/);
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
    const seq = (m: typeof create) => BigInt(JSON.parse(m?.value ?? '{}').source.sequence);
    expect(seq(update)).toBeGreaterThan(seq(create));
    expect(seq(del)).toBeGreaterThan(seq(update));
  });
});
