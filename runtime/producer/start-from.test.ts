import { describe, expect, it } from 'vitest';
import { formatStartFrom, parseStartFrom } from './start-from.ts';

describe('parseStartFrom', () => {
  it('parses every form', () => {
    expect(parseStartFrom('earliest')).toEqual({ kind: 'earliest' });
    expect(parseStartFrom('latest')).toEqual({ kind: 'latest' });
    expect(parseStartFrom('timestamp:2026-01-02T03:04:05Z')).toEqual({
      kind: 'timestamp',
      atMs: Date.parse('2026-01-02T03:04:05Z'),
    });
    expect(parseStartFrom('timestamp:1700000000000')).toEqual({ kind: 'timestamp', atMs: 1_700_000_000_000 });
    expect(parseStartFrom('position:mariadb-bin.000007:4711')).toEqual({
      kind: 'position',
      file: 'mariadb-bin.000007',
      pos: 4711,
    });
    expect(parseStartFrom('gtid:0-2-80,1-3-5')).toEqual({ kind: 'gtid', gtidSet: '0-2-80,1-3-5' });
    expect(parseStartFrom('gtid:3E11FA47-71CA-11E1-9E33-C80AA9429562:1-42')).toEqual({
      kind: 'gtid',
      gtidSet: '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-42',
    });
  });

  it('explains what is wrong with bad input', () => {
    expect(parseStartFrom('now')).toMatch(/START_FROM must be/);
    expect(parseStartFrom('timestamp:yesterday')).toMatch(/ISO-8601/);
    expect(parseStartFrom('position:file')).toMatch(/<binlog file>:<offset>/);
    expect(parseStartFrom('position:f.000001:2')).toMatch(/at least 4/);
    expect(parseStartFrom('gtid:abc')).toMatch(/GTID/);
  });

  it('formats back what it parses', () => {
    for (const s of [
      'earliest',
      'latest',
      'position:b.000001:4',
      'gtid:0-1-2',
      'timestamp:2026-01-02T03:04:05.000Z',
    ]) {
      const parsed = parseStartFrom(s);
      if (typeof parsed === 'string') throw new Error(parsed);
      expect(formatStartFrom(parsed)).toBe(s);
    }
  });
});
