import { describe, expect, it } from 'vitest';
import { decodeMessage } from './decode.ts';

const row = {
  id: 'pur_1',
  user_id: 'u1',
  package_id: 'pkg_plus',
  amount: 1999,
  currency: 'EUR',
  created_at: '2026-11-25T21:00:00.000001Z',
  updated_at: '2026-11-25T21:00:00.000001Z',
};
const envelope = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    before: null,
    after: row,
    op: 'c',
    ts_ms: 1764104400123,
    source: { table: 'purchases', gtid: '0-1-42', row: 3, ts_ms: 1764104400000, db: 'payments' },
    ...over,
  });
const key = JSON.stringify({ id: 'pur_1' });

describe('decodeMessage', () => {
  it('turns a create into a versioned change', () => {
    const d = decodeMessage('purchases', key, envelope());
    expect(d).toMatchObject({
      kind: 'change',
      change: { table: 'purchases', id: 'pur_1', version: '00000000000000000042.0000000003', before: null },
    });
    if (d.kind === 'change') expect(d.change.after).toEqual(row);
  });

  it('turns a delete into a tombstone change carrying the before image', () => {
    const d = decodeMessage('purchases', key, envelope({ op: 'd', before: row, after: null }));
    expect(d).toMatchObject({ kind: 'change', change: { after: null, before: row } });
  });

  it('skips the Kafka tombstone after a delete', () => {
    expect(decodeMessage('purchases', key, null)).toEqual({ kind: 'tombstone' });
  });

  it.each([
    ['not JSON', '{"op":', /undecodable/],
    ['unknown op', envelope({ op: 'x' }), /unknown op/],
    ['wrong table', envelope({ source: { table: 'payments', gtid: '0-1-1', row: 0 } }), /source.table/],
    ['no GTID', envelope({ source: { table: 'purchases', gtid: null, row: 0 } }), /gtid/],
    [
      'missing column',
      envelope({ after: { ...row, user_id: undefined } }),
      /schema mismatch: purchases.user_id/,
    ],
    ['create without after', envelope({ after: null }), /needs after/],
  ])('sends %s to the dead-letter topic with the reason', (_name, value, reason) => {
    const d = decodeMessage('purchases', key, value);
    expect(d.kind).toBe('poison');
    if (d.kind === 'poison') expect(d.reason).toMatch(reason);
  });

  it('rejects a key that names another row', () => {
    const d = decodeMessage('purchases', JSON.stringify({ id: 'pur_2' }), envelope());
    expect(d).toMatchObject({ kind: 'poison', reason: expect.stringMatching(/does not match/) });
  });
});
