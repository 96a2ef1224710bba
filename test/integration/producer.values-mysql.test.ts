// Exact values on MySQL 9.7 (the integration-mysql project only; MariaDB has its own file).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteTopics, readTopic } from '../support/producer.ts';
import { afterImages, mariadbText, publishBothWays, type Row } from '../support/producer-values.ts';

/**
 * MySQL 9.7's column types through zongji (streaming) and the text protocol (snapshot): both paths
 * publish the same JSON, and the values MySQL stores differently from MariaDB come out as MySQL has
 * them (binary JSON, TIME/DATETIME/TIMESTAMP fractions, YEAR, BIT, GEOMETRY, tagged GTIDs).
 */
describe('producer: each column type on MySQL 9.7, streamed and snapshotted alike', () => {
  let db: TestDatabase;
  let cfgs: { stream: ProducerConfig; snap: ProducerConfig };
  const times = [
    '838:59:59',
    '-838:59:59',
    '00:00:00',
    '-00:00:00.000001',
    '-00:00:00.5',
    '00:00:00.000001',
    '-00:00:01',
    '12:34:56.789012',
    '-12:00:00.100000',
    '100:00:00.5',
    '-1:02:03.04',
  ];
  const timeCols = ['t0', 't1', 't2', 't3', 't4', 't5', 't6'];
  const json = [
    '{"n": 12345678901234567890, "s": "é😀", "f": 0.1, "a": [1, 2.5, null, true, "x"], "o": {"k": {}}}',
    '[]',
    '"text"',
    '-1.5e300',
    'null',
    '{"big": 18446744073709551615, "neg": -9223372036854775808}',
    '{"d": 1.0, "i": 12, "e": 1e-7}',
  ];

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query(`CREATE TABLE typed (
      id INT PRIMARY KEY, j JSON,
      d DATE, dt0 DATETIME, dt1 DATETIME(1), dt3 DATETIME(3), dt6 DATETIME(6),
      ts0 TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, ts6 TIMESTAMP(6) NULL,
      ${timeCols.map((c, i) => `${c} TIME(${i})`).join(', ')}, y YEAR,
      b1 BIT(1), b12 BIT(12), b64 BIT(64), dec65 DECIMAL(65,30), dec0 DECIMAL(20,0) UNSIGNED,
      st SET('a','b','c d','é'), en ENUM('x','y z','é'), g GEOMETRY, vb VARBINARY(20), bl BLOB,
      tu TINYINT UNSIGNED, t8 TINYINT, sm SMALLINT, mu MEDIUMINT UNSIGNED, iu INT UNSIGNED,
      bu BIGINT UNSIGNED, bs BIGINT, f FLOAT, dd DOUBLE, tx TEXT, ch CHAR(5),
      l1 VARCHAR(10) CHARACTER SET latin1)`);
    await db.admin.query('CREATE TABLE marker (id INT PRIMARY KEY)');
    cfgs = await publishBothWays(db, 'typed,marker', async () => {
      const rows = Math.max(times.length, json.length);
      for (let i = 0; i < rows; i++) {
        const t = times[i % times.length];
        await db.admin.query(
          `INSERT INTO typed VALUES (?, ?, '2024-02-29', '1000-01-01 00:00:00', '2024-02-29 23:59:59.9',
             '9999-12-31 23:59:59.999', '2024-02-29 23:59:59.000001', '1970-01-01 00:00:01',
             '2038-01-19 03:14:07.999', '2024-02-29 12:00:00.123456', ${timeCols.map(() => '?').join(', ')},
             ?, b'1', b'101010101010', b'1111111111111111111111111111111111111111111111111111111111111110',
             '-12345678901234567890123456789012345.123456789012345678901234567891', '18446744073709551615',
             'a,c d,é', 'y z', ST_GeomFromText('POINT(1 2)', 4326), X'00FF10', X'DEADBEEF',
             255, -128, -32768, 16777215, 4294967295, 18446744073709551615, -9223372036854775808,
             3.40282e38, -1.7976931348623157e308, 'héllo 😀', 'ab', 'café')`,
          [i, json[i % json.length], ...timeCols.map(() => t), i === 0 ? '0000' : String(1901 + i)],
        );
      }
      // A tagged GTID (MySQL 8.3+) on the way: the stream keeps going and counts it.
      const conn = await db.admin.getConnection();
      try {
        await conn.query("SET gtid_next = 'AUTOMATIC:values'");
        await conn.query('UPDATE typed SET ch = ? WHERE id = 0', ['tag']);
        await conn.query("SET gtid_next = 'AUTOMATIC'");
      } finally {
        conn.release();
      }
      await db.admin.query('INSERT INTO marker VALUES (1)');
    });
  }, 600_000);

  afterAll(async () => {
    await deleteTopics(cfgs?.stream.topicPrefix ?? 'none').catch(() => undefined);
    await deleteTopics(cfgs?.snap.topicPrefix ?? 'none').catch(() => undefined);
    await db?.drop();
  });

  it('publishes the same JSON from the binlog and from the snapshot, for every type', async () => {
    const rows = Math.max(times.length, json.length);
    const topic = (cfg: ProducerConfig) => `${cfg.topicPrefix}.${db.name}.typed`;
    const streamed = await readTopic(topic(cfgs.stream), (m) => m.length >= rows + 1, 120_000);
    const latest = new Map<number, Row>();
    for (const m of streamed) {
      const e = JSON.parse(m.value ?? 'null');
      if (e) latest.set(Number(e.after.id), e.after);
    }
    const snap = await afterImages(db, cfgs.snap, 'typed', rows, true);
    expect(snap.size).toBe(rows);
    for (let i = 0; i < rows; i++) expect(latest.get(i), `row ${i}`).toEqual(snap.get(i));
  });

  it('publishes values as MySQL stores them: JSON as its text, time fractions, YEAR, BIT, GEOMETRY', async () => {
    const snap = await afterImages(db, cfgs.snap, 'typed', times.length, true);
    const mysqlJson = await mariadbText(db, 'typed', {
      j: 'CAST(j AS CHAR)',
      t6: 'CAST(t6 AS CHAR)',
      t3: 'CAST(t3 AS CHAR)',
      t0: 'CAST(t0 AS CHAR)',
    });
    for (const r of mysqlJson) {
      const row = snap.get(Number(r.id));
      expect(row?.j).toBe(r.j);
      expect(row?.t6).toBe(r.t6);
      expect(row?.t3).toBe(r.t3);
      expect(row?.t0).toBe(r.t0);
    }
    const first = snap.get(1);
    expect(first).toMatchObject({
      d: '2024-02-29',
      dt1: '2024-02-29T23:59:59.9Z',
      dt3: '9999-12-31T23:59:59.999Z',
      dt6: '2024-02-29T23:59:59.000001Z',
      ts3: '2038-01-19T03:14:07.999Z',
      ts6: '2024-02-29T12:00:00.123456Z',
      y: 1902,
      dec0: '18446744073709551615',
      bu: '18446744073709551615',
      bs: '-9223372036854775808',
      st: 'a,c d,é',
      en: 'y z',
      l1: 'café',
    });
    expect(snap.get(0)?.y).toBe(0);
    expect(snap.get(0)?.ch).toBe('tag');
  });
});
