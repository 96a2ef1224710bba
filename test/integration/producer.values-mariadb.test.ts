// Exact values on MariaDB 10.11: TIME/YEAR over their whole range, each column type as its documented
// JSON, and the MariaDB types behind BINARY bytes (the integration project; MySQL has its own file).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableColumns } from '../../runtime/core/events/generate-schemas.ts';
import { envelopeSchema } from '../../runtime/core/events/row-schema.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';
import {
  afterImages,
  calendarDay,
  hexOfBase64,
  mariadbText,
  pad,
  publishBothWays,
  type Row,
  timeLiterals,
} from '../support/producer-values.ts';

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

describe('producer: each column type as its documented JSON, against MariaDB', () => {
  let db: TestDatabase;
  let cfgs: { stream: ProducerConfig; snap: ProducerConfig };
  const INET6_EDGES = [
    '::ffff',
    '1:0:0:0:0:0:0:0',
    '1:0:0:1:0:0:1:1',
    '::1.2.3.4',
    '::0.1.0.0',
    '::0.0.1.0',
    '::ffff:0.0.0.1',
    '::fffe:1.2.3.4',
    '0:0:0:0:0:1:0:0',
    'ABCD:EF01::',
  ];
  const rowCount = 5 + INET6_EDGES.length;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query(`CREATE TABLE typed (
      id INT PRIMARY KEY,
      d DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL,
      u UUID, i4 INET4, i6 INET6, bin16 BINARY(16), b1 BIT(1), b12 BIT(12), b64 BIT(64),
      dec65 DECIMAL(65,30), dec0 DECIMAL(20,0) UNSIGNED, st SET('a','b','c d','é'), en ENUM('x','y z','é'),
      j JSON, g GEOMETRY, vb VARBINARY(20), bl BLOB, tu TINYINT UNSIGNED, ts_ SMALLINT, mu MEDIUMINT UNSIGNED,
      iu INT UNSIGNED, bu BIGINT UNSIGNED, bs BIGINT, f FLOAT, dd DOUBLE,
      tx TEXT, ch CHAR(5), l1 VARCHAR(10) CHARACTER SET latin1, e2 ENUM('p','q'))`);
    await db.admin.query(`CREATE TABLE typed2 (id INT PRIMARY KEY, i8 TINYINT, i24 MEDIUMINT, i32 INT,
      d10 DECIMAL(10,10), d65 DECIMAL(65,0), d52 DECIMAL(5,2), vc VARCHAR(100) COMPRESSED,
      tc TEXT COMPRESSED, bc BLOB COMPRESSED, dt1 DATETIME(1), ts3 TIMESTAMP(3) NULL, dt5 DATETIME(5),
      ch CHAR(10))`);
    await db.admin.query('CREATE TABLE marker (id INT PRIMARY KEY)');
    cfgs = await publishBothWays(db, 'typed,typed2,marker', async () => {
      const conn = await db.admin.getConnection();
      try {
        // Zero and invalid dates need a permissive session; TIMESTAMP texts are UTC.
        await conn.query("SET SESSION sql_mode = 'ALLOW_INVALID_DATES', time_zone = '+00:00'");
        const rows = [
          `(0, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.000001',
            '2038-01-19 03:14:07', '1970-01-01 00:00:01.000000', '123e4567-e89b-12d3-a456-426614174000',
            '192.168.0.1', '2001:db8::ff00:42:8329', UNHEX('00112233445566778899AABBCCDDEEFF'), b'1',
            b'101010101010', b'1111111111111111111111111111111111111111111111111111111111111111',
            '-12345678901234567890123456789012345.123456789012345678901234567890', 99999999999999999999,
            'a,c d,é', 'y z', '{"n": 12345678901234567890, "x": [1.0, 2e3]}', ST_GeomFromText('POINT(1.5 -2.25)', 4326),
            X'00', X'', 255, -32768, 16777215, 4294967295, 18446744073709551615, -9223372036854775808, 0.1, 0.1,
            'long text ✓ 😀', 'ab', 'café', 'q')`,
          `(1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00.000000',
            '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '00000000-0000-0000-0000-000000000000',
            '0.0.0.0', '::', UNHEX('00000000000000000000000000000000'), b'0', b'0', b'0', 0, 0, '', 'x', 'null',
            ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)'), X'', X'00FF', 0, 0, 0, 0, 0, 0, -0.0, 1e308, '', '', '', '')`,
          `(2, '2024-02-00', '2024-00-10 10:00:00', '2024-02-00 00:00:00.500', '0000-01-01 00:00:00.000001',
            '1970-01-01 00:00:01', '2024-02-29 12:00:00.999999', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
            '255.255.255.255', '::ffff:1.2.3.4', NULL, NULL, b'100000000000', b'1', '0.000000000000000000000000000001',
            1, 'b', 'é', '[]', ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))', 3857), X'DEADBEEF', NULL,
            NULL, 32767, NULL, NULL, 9007199254740991, 9007199254740992, 3.4028235e38, -2.2250738585072014e-308,
            'x', 'abcde', 'ÿ', 'p')`,
          `(3, '2024-02-30', '2024-04-31 00:00:00', '9999-12-31 23:59:59.999', '1000-01-01 00:00:00.000000',
            NULL, NULL, '01234567-89ab-1def-8123-456789abcdef', NULL, '::1', NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, '{"a":"\\\\u00e9😀"}', ST_GeomFromText('MULTIPOINT(1 1, 2 2)'), NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, -9007199254740991, 1.17549435e-38, 0.30000000000000004, NULL, NULL, NULL, NULL)`,
          `(4, '0000-01-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '::2', NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(3 4))'), NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, -9007199254740992, 16777217, 123456789.123456789, NULL, NULL, NULL, NULL)`,
          // INET6 text forms (IPv4-mapped/compatible, zero-run compression) on rows of their own.
          ...INET6_EDGES.map(
            (a, i) =>
              `(${5 + i}, ${Array.from({ length: 8 }, () => 'NULL').join(', ')}, '${a}', ${Array.from({ length: 24 }, () => 'NULL').join(', ')})`,
          ),
        ];
        await conn.query(`INSERT INTO typed VALUES ${rows.join(',')}`);
        await conn.query(`INSERT INTO typed2 VALUES
          (0, -128, -8388608, -2147483648, '-0.0000000001', ${'9'.repeat(65)}, '-0.01', 'héllo ✓ compressed',
           REPEAT('long text é ', 50), UNHEX(REPEAT('00FF', 100)), '2024-02-29 23:59:59.9',
           '2024-02-29 23:59:59.001', '2024-02-29 23:59:59.00001', 'ab  '),
          (1, 127, 8388607, 2147483647, '0.9999999999', -${'9'.repeat(65)}, '999.99', '', '', X'',
           '0000-00-00 00:00:00.0', '0000-00-00 00:00:00.000', '2024-02-00 00:00:00.00000', ''),
          (2, 0, -1, -1, '0.0000000000', 0, '-999.99', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (3, -1, 0, 0, '-0.5000000000', -1, '0.00', 'x', 'y', X'00', '1000-01-01 00:00:00.5',
           '1970-01-01 00:00:00.999', '9999-12-31 23:59:59.99999', '  lead')`);
      } finally {
        conn.release();
      }
      await db.admin.query('INSERT INTO marker VALUES (1)');
    });
  }, 600_000);

  afterAll(async () => {
    for (const c of [cfgs?.stream, cfgs?.snap])
      if (c) await deleteTopics(c.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  /** Per column: MariaDB's own text of the value, and the JSON it must be published as. */
  type Check = { sql: string; expect: (text: string) => unknown };
  const same: Check['expect'] = (t) => t;
  const dateOf: Check['expect'] = (t) => (calendarDay(t) ? t : null);
  const instant: Check['expect'] = (t) => (calendarDay(t) ? `${t.replace(' ', 'T')}Z` : null);
  const integer: Check['expect'] = (t) => (Number.isSafeInteger(Number(t)) ? Number(t) : t);
  const checks: Record<string, Check> = {
    d: { sql: 'CAST(d AS CHAR)', expect: dateOf },
    dt0: { sql: 'CAST(dt0 AS CHAR)', expect: instant },
    dt3: { sql: 'CAST(dt3 AS CHAR)', expect: instant },
    dt6: { sql: 'CAST(dt6 AS CHAR)', expect: instant },
    ts0: { sql: 'CAST(ts0 AS CHAR)', expect: instant },
    ts6: { sql: 'CAST(ts6 AS CHAR)', expect: instant },
    u: { sql: 'CAST(u AS CHAR)', expect: same },
    i4: { sql: 'CAST(i4 AS CHAR)', expect: same },
    i6: { sql: 'CAST(i6 AS CHAR)', expect: same },
    bin16: { sql: 'HEX(bin16)', expect: same },
    // BIT: the big-endian bytes of the column's width; checked as the number MariaDB reads.
    b1: { sql: 'CAST(b1 + 0 AS CHAR)', expect: same },
    b12: { sql: 'CAST(b12 + 0 AS CHAR)', expect: same },
    b64: { sql: 'CAST(b64 + 0 AS CHAR)', expect: same },
    dec65: { sql: 'CAST(dec65 AS CHAR)', expect: same },
    dec0: { sql: 'CAST(dec0 AS CHAR)', expect: same },
    st: { sql: 'CAST(st AS CHAR)', expect: same },
    en: { sql: 'CAST(en AS CHAR)', expect: same },
    j: { sql: 'CAST(j AS CHAR)', expect: same },
    g: { sql: "CONCAT(ST_SRID(g), ':', HEX(ST_AsWKB(g)))", expect: same },
    vb: { sql: 'HEX(vb)', expect: same },
    bl: { sql: 'HEX(bl)', expect: same },
    tu: { sql: 'CAST(tu AS CHAR)', expect: integer },
    ts_: { sql: 'CAST(ts_ AS CHAR)', expect: integer },
    mu: { sql: 'CAST(mu AS CHAR)', expect: integer },
    iu: { sql: 'CAST(iu AS CHAR)', expect: integer },
    bu: { sql: 'CAST(bu AS CHAR)', expect: integer },
    bs: { sql: 'CAST(bs AS CHAR)', expect: integer },
    // FLOAT: the stored binary32 value (MariaDB widens it exactly to DOUBLE); DOUBLE: its value.
    f: { sql: 'CAST(CAST(f AS DOUBLE) AS CHAR)', expect: (t) => Math.fround(Number(t)) },
    dd: { sql: 'CAST(dd AS CHAR)', expect: (t) => Number(t) },
    tx: { sql: 'CAST(tx AS CHAR)', expect: same },
    ch: { sql: 'CAST(ch AS CHAR)', expect: same },
    l1: { sql: 'CAST(l1 AS CHAR)', expect: same },
    // '' is the invalid-value member (index 0) a non-strict session stores.
    e2: { sql: 'CAST(e2 AS CHAR)', expect: same },
  };
  /** The published JSON in the form MariaDB's text is compared with (bytes as hex, BIT as a number). */
  const asCompared: Record<string, (v: unknown) => unknown> = {
    bin16: hexOfBase64,
    bc: hexOfBase64,
    vb: hexOfBase64,
    bl: hexOfBase64,
    b1: (v) => BigInt(`0x${hexOfBase64(v) || '0'}`).toString(),
    b12: (v) => BigInt(`0x${hexOfBase64(v) || '0'}`).toString(),
    b64: (v) => BigInt(`0x${hexOfBase64(v) || '0'}`).toString(),
    g: (v) => {
      const { srid, wkb } = v as { srid: number; wkb: string };
      return `${srid}:${hexOfBase64(wkb)}`;
    },
  };

  /** Compares every column of every row with MariaDB's text, and validates the events against the table's schema. */
  async function compareWithMariadb(
    table: string,
    tableChecks: Record<string, Check>,
    count: number,
    path: 'stream' | 'snap',
  ): Promise<Map<number, Row>> {
    const expected = await mariadbText(
      db,
      table,
      Object.fromEntries(Object.entries(tableChecks).map(([c, k]) => [c, k.sql])),
    );
    expect(expected).toHaveLength(count);
    const got = await afterImages(db, cfgs[path], table, count, path === 'snap');
    const wrong: string[] = [];
    for (const row of expected) {
      const after = got.get(Number(row.id)) ?? {};
      for (const [c, check] of Object.entries(tableChecks)) {
        const text = row[c];
        const want = text === null ? null : check.expect(String(text));
        const value = after[c];
        const have = value === null || value === undefined ? value : (asCompared[c] ?? ((v) => v))(value);
        if (!Object.is(have, want) && JSON.stringify(have) !== JSON.stringify(want))
          wrong.push(
            `row ${row.id} ${c}: published ${JSON.stringify(value)}, MariaDB ${JSON.stringify(text)}`,
          );
      }
    }
    expect(wrong).toEqual([]);
    // And the table's published JSON Schema (the same rules) accepts every event.
    const schema = envelopeSchema(db.name, table, (await tableColumns(db.admin, db.name)).get(table) ?? []);
    const topic = `${cfgs[path].topicPrefix}.${db.name}.${table}`;
    for (const m of await readTopic(topic, (ms) => ms.length >= count)) {
      const result = schema.safeParse(JSON.parse(m.value ?? 'null'));
      expect(result.error?.issues ?? []).toEqual([]);
    }
    return got;
  }

  const checks2: Record<string, Check> = {
    i8: { sql: 'CAST(i8 AS CHAR)', expect: integer },
    i24: { sql: 'CAST(i24 AS CHAR)', expect: integer },
    i32: { sql: 'CAST(i32 AS CHAR)', expect: integer },
    d10: { sql: 'CAST(d10 AS CHAR)', expect: same },
    d65: { sql: 'CAST(d65 AS CHAR)', expect: same },
    d52: { sql: 'CAST(d52 AS CHAR)', expect: same },
    vc: { sql: 'CAST(vc AS CHAR)', expect: same },
    tc: { sql: 'CAST(tc AS CHAR)', expect: same },
    bc: { sql: 'HEX(bc)', expect: same },
    dt1: { sql: 'CAST(dt1 AS CHAR)', expect: instant },
    ts3: { sql: 'CAST(ts3 AS CHAR)', expect: instant },
    dt5: { sql: 'CAST(dt5 AS CHAR)', expect: instant },
    ch: { sql: 'CAST(ch AS CHAR)', expect: same },
  };

  for (const path of ['stream', 'snap'] as const) {
    it(`publishes every type as documented, value by value (${path})`, async () => {
      const got = await compareWithMariadb('typed', checks, rowCount, path);
      // The byte widths: BIT(n) as ceil(n/8) bytes, BINARY(16) padded.
      const first = got.get(0) ?? {};
      expect(Buffer.from(String(first.b12), 'base64')).toHaveLength(2);
      expect(Buffer.from(String(first.b64), 'base64')).toHaveLength(8);
      expect(typeof first.bu).toBe('string');
      expect(got.get(2)?.bu).toBe(9007199254740991);
    });

    it(`publishes signed integers, DECIMAL edges, COMPRESSED columns and odd fractions exactly (${path})`, async () => {
      await compareWithMariadb('typed2', checks2, 4, path);
    });
  }
});

describe('producer: MariaDB types behind BINARY bytes across DDL', () => {
  let db: TestDatabase;
  let cfg: ProducerConfig;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query('CREATE TABLE retyped (id INT PRIMARY KEY, v BINARY(16))');
    cfg = producerConfig(db, { PRODUCER_TABLES: 'retyped' });
  });

  afterAll(async () => {
    await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  it('publishes a column as bytes while it is BINARY(16) and as text once it is UUID (and a new INET4 as text)', async () => {
    const p = await runProducer(cfg);
    try {
      const bytes = 'UNHEX("123e4567e89b12d3a456426614174000")';
      const topic = `${cfg.topicPrefix}.${db.name}.retyped`;
      await db.admin.query(`INSERT INTO retyped VALUES (1, ${bytes})`);
      // The type is read from the current schema (see docs/producer.md): let row 1 be read first.
      expect(await readTopic(topic, (m) => m.length >= 1)).toHaveLength(1);
      await db.admin.query('ALTER TABLE retyped MODIFY v UUID');
      await db.admin.query(`INSERT INTO retyped VALUES (2, ${bytes})`);
      await db.admin.query('ALTER TABLE retyped ADD COLUMN a INET4');
      await db.admin.query(`INSERT INTO retyped VALUES (3, ${bytes}, '10.0.0.1')`);
      // Three partitions: order by id, not by arrival.
      const values = (await readTopic(topic, (m) => m.length >= 3))
        .map((m) => JSON.parse(m.value ?? '{}').after)
        .sort((a, b) => a.id - b.id);
      expect(values).toEqual([
        { id: 1, v: Buffer.from('123e4567e89b12d3a456426614174000', 'hex').toString('base64') },
        { id: 2, v: '123e4567-e89b-12d3-a456-426614174000' },
        { id: 3, v: '123e4567-e89b-12d3-a456-426614174000', a: '10.0.0.1' },
      ]);
    } finally {
      await p.stop();
    }
  });
});
