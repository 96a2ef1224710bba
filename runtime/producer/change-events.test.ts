import { describe, expect, it } from 'vitest';
import type { RowChange } from './binlog/reader.ts';
import { envelope, keyOf, recordsOf } from './change-events.ts';

const src = { name: 'payments', serverId: 2, topicPrefix: 'payments' };
const change = (over: Partial<RowChange>): RowChange => ({
  db: 'shop',
  table: 'purchases',
  op: 'c',
  before: null,
  after: { id: 'pur_1', amount_minor: 1999 },
  primaryKey: ['id'],
  gtid: '0-2-80',
  sequence: 80n,
  file: 'mariadb-bin.000001',
  pos: 1234,
  row: 3,
  tsMs: 1_700_000_000_000,
  ...over,
});

describe('change events', () => {
  it('keys by primary key in key order, null without one', () => {
    expect(keyOf(['b', 'a'], { a: 1, b: 2, c: 3 })).toBe('{"b":2,"a":1}');
    expect(keyOf([], { a: 1 })).toBeNull();
  });

  it('builds a Debezium envelope with the source position', () => {
    const [rec] = recordsOf(src, change({}), 42);
    expect(rec?.topic).toBe('payments.shop.purchases');
    expect(String(rec?.key)).toBe('{"id":"pur_1"}');
    expect(JSON.parse(String(rec?.value))).toEqual({
      before: null,
      after: { id: 'pur_1', amount_minor: 1999 },
      source: {
        version: '1.0.0',
        connector: 'mysql',
        name: 'payments',
        ts_ms: 1_700_000_000_000,
        db: 'shop',
        table: 'purchases',
        server_id: 2,
        gtid: '0-2-80',
        sequence: '80',
        file: 'mariadb-bin.000001',
        pos: 1234,
        row: 3,
        snapshot: 'false',
      },
      op: 'c',
      ts_ms: 42,
      transaction: { id: '0-2-80', total_order: 4, data_collection_order: 4 },
    });
  });

  it('carries key and value as the UTF-8 bytes of their JSON', () => {
    const c = change({ after: { id: 'pur_é', note: 'paid — ✓ 😀' } });
    const [rec] = recordsOf(src, c, 42);
    const expected = JSON.stringify(envelope(src, { ...c, snapshot: 'false' }, 42));
    expect(Buffer.isBuffer(rec?.value) && rec.value.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    expect(Buffer.isBuffer(rec?.key) && rec.key.equals(Buffer.from('{"id":"pur_é"}', 'utf8'))).toBe(true);
  });

  it('follows a delete with a tombstone', () => {
    const recs = recordsOf(src, change({ op: 'd', before: { id: 'pur_1' }, after: null }), 1);
    expect(recs.map((r) => [String(r.key), r.value === null])).toEqual([
      ['{"id":"pur_1"}', false],
      ['{"id":"pur_1"}', true],
    ]);
  });

  it('splits a primary-key change into delete, tombstone and create', () => {
    const recs = recordsOf(src, change({ op: 'u', before: { id: 'pur_1' }, after: { id: 'pur_2' } }), 1);
    expect(
      recs.map((r) => [String(r.key), r.value === null ? null : JSON.parse(String(r.value)).op]),
    ).toEqual([
      ['{"id":"pur_1"}', 'd'],
      ['{"id":"pur_1"}', null],
      ['{"id":"pur_2"}', 'c'],
    ]);
  });
});
