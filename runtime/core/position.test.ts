import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  decodeToken,
  encodeToken,
  gtidSequence,
  transactionFloor,
  VERSION_PATTERN,
  versionOf,
  versionOfGtid,
} from './position.ts';

describe('gtidSequence', () => {
  it('reads MariaDB and MySQL GTIDs exactly, beyond 2^53', () => {
    expect(gtidSequence('0-1-42')).toBe(42n);
    expect(gtidSequence('0-1-18446744073709551615')).toBe(18446744073709551615n);
    expect(gtidSequence('3E11FA47-71CA-11E1-9E33-C80AA9429562:9007199254740993')).toBe(9007199254740993n);
  });
  it('rejects anything else', () => {
    for (const bad of ['', '0-1', 'abc', '0-1-x', '3E11FA47:1']) {
      expect(() => gtidSequence(bad)).toThrow(/unrecognised GTID/);
    }
  });
});

describe('versions', () => {
  it('order by transaction, then by row inside it, as plain strings', () => {
    const ordered = [
      versionOf(9n, 0),
      versionOf(9n, 1),
      versionOf(9n, 10),
      versionOf(10n, 0),
      versionOf(100n, 3),
    ];
    const shuffled = [...ordered].reverse().sort(compareVersions);
    expect(shuffled).toEqual(ordered);
    for (const v of ordered) expect(v).toMatch(VERSION_PATTERN);
  });
  it('put every change of a transaction at or above its floor', () => {
    expect(compareVersions(versionOfGtid('0-1-7', 0), transactionFloor(7n))).toBe(0);
    expect(compareVersions(versionOfGtid('0-1-7', 5), transactionFloor(7n))).toBe(1);
    expect(compareVersions(versionOfGtid('0-1-6', 99), transactionFloor(7n))).toBe(-1);
  });
  it('reject out-of-range rows', () => {
    expect(() => versionOf(1n, -1)).toThrow();
    expect(() => versionOf(1n, 1.5)).toThrow();
    expect(() => versionOf(1n, 10 ** 10)).toThrow();
  });
});

describe('consistency tokens', () => {
  it('round-trip', () => {
    const token = { gtid: '0-1-123', rows: ['purchases:pur_1', 'payments:pay_1'] };
    expect(decodeToken(encodeToken(token))).toEqual(token);
  });
  it('reject malformed input instead of throwing', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const bad of [
      '',
      '!!!',
      'a'.repeat(3000),
      b64('x'),
      b64({ g: 1, r: [] }),
      b64({ g: '0-1-1', r: 'x' }),
      b64({ g: 'nope', r: [] }),
      b64({ g: '0-1-1', r: ['purchases:bad id'] }),
      b64({ g: '0-1-1', r: Array.from({ length: 33 }, (_, i) => `purchases:p${i}`) }),
      Buffer.from('{not json').toString('base64url'),
    ]) {
      expect(decodeToken(bad)).toBeNull();
    }
  });
});
