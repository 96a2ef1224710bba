import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { canonicalRow, microsOfIso, RowShapeError, toIsoMicros } from './rows.ts';

describe('canonical rows', () => {
  it('normalises every DATETIME(6) encoding to ISO with microseconds', () => {
    const expected = '2026-11-25T21:00:00.123456Z';
    expect(toIsoMicros('2026-11-25 21:00:00.123456')).toBe(expected);
    expect(toIsoMicros('2026-11-25T21:00:00.123456Z')).toBe(expected);
    expect(toIsoMicros(microsOfIso(expected))).toBe(expected);
    expect(toIsoMicros('2026-11-25 21:00:00')).toBe('2026-11-25T21:00:00.000000Z');
    expect(toIsoMicros(new Date('2026-11-25T21:00:00.123Z'))).toBe('2026-11-25T21:00:00.123000Z');
    expect(toIsoMicros('yesterday')).toBeNull();
    expect(toIsoMicros('2026-13-45 99:00:00')).toBeNull();
  });

  it('keeps only the schema columns and rejects rows of the wrong shape', () => {
    const row = {
      id: 'pur_1',
      user_id: 'u1',
      package_id: 'pkg',
      amount: '499',
      currency: 'EUR',
      created_at: '2026-11-25 21:00:00.000001',
      updated_at: '2026-11-25 21:00:00.000001',
      added_later: 'x',
    };
    expect(canonicalRow('purchases', row)).toEqual({
      id: 'pur_1',
      user_id: 'u1',
      package_id: 'pkg',
      amount: 499,
      currency: 'EUR',
      created_at: '2026-11-25T21:00:00.000001Z',
      updated_at: '2026-11-25T21:00:00.000001Z',
    });
    expect(() => canonicalRow('purchases', { ...row, amount: 4.5 })).toThrow(RowShapeError);
    expect(() => canonicalRow('purchases', { ...row, amount: '99999999999999999999' })).toThrow(
      /safe integer/,
    );
    expect(() => canonicalRow('purchases', { ...row, user_id: undefined })).toThrow(/purchases.user_id/);
  });
});

describe('page cursor', () => {
  it('round-trips and rejects anything else', () => {
    const c = { createdAt: '2026-11-25T21:00:00.123456Z', id: 'pur_1' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(decodeCursor('')).toBeNull();
    expect(decodeCursor('%%%')).toBeNull();
    expect(decodeCursor(Buffer.from('{"t":"x","i":"y"}').toString('base64url'))).toBeNull();
  });

  it.each([
    '2024-13-01T00:00:00.000000Z',
    '0000-00-00T00:00:00.000000Z',
    '2024-00-10T00:00:00.000000Z',
    '2024-02-30T00:00:00.000000Z',
    '2023-02-29T00:00:00.000000Z',
    '2024-01-01T24:00:00.000000Z',
    '2024-01-01T23:60:00.000000Z',
    '2024-01-01T23:59:60.000000Z',
    '0999-12-31T23:59:59.999999Z',
  ])('refuses the well-formed but impossible timestamp %s', (t) => {
    expect(decodeCursor(encodeCursor({ createdAt: t, id: 'pur_1' }))).toBeNull();
  });

  it.each(['2024-02-29T23:59:59.999999Z', '1000-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z'])(
    'accepts the real instant %s',
    (t) => {
      expect(decodeCursor(encodeCursor({ createdAt: t, id: 'pur_1' }))).toEqual({
        createdAt: t,
        id: 'pur_1',
      });
    },
  );
});
