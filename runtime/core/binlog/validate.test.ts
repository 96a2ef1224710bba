import { describe, expect, it } from 'vitest';
import { mariaDomainsBehind, mysqlSubset, parseMariaPos, parseMysqlSet } from './gtid.ts';
import type { ServerBinlogState } from './server.ts';
import { validatePosition } from './validate.ts';

const maria: ServerBinlogState = {
  flavor: 'mariadb',
  files: [
    { name: 'mariadb-bin.000003', size: 1000 },
    { name: 'mariadb-bin.000004', size: 500 },
  ],
  head: { file: 'mariadb-bin.000004', pos: 500 },
  gtidExecuted: '0-1-90,1-1-7',
  gtidPurged: '0-1-40',
  nowMs: 0,
};

const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const mysql: ServerBinlogState = {
  flavor: 'mysql',
  files: [{ name: 'binlog.000010', size: 800 }],
  head: { file: 'binlog.000010', pos: 800 },
  gtidExecuted: `${U}:1-100`,
  gtidPurged: `${U}:1-20`,
  nowMs: 0,
};

describe('GTID sets', () => {
  it('parses MariaDB positions and finds domains that are behind', () => {
    const a = parseMariaPos('0-1-40, 1-2-5');
    expect(a).toEqual(
      new Map([
        [0, 40n],
        [1, 5n],
      ]),
    );
    expect(mariaDomainsBehind(a, parseMariaPos('0-1-41,2-1-1'))).toEqual([0, 2]);
    expect(mariaDomainsBehind(a, parseMariaPos(''))).toEqual([]);
  });
  it('rejects malformed MariaDB positions and duplicate domains', () => {
    expect(() => parseMariaPos('0-1')).toThrow(/MariaDB GTID/);
    expect(() => parseMariaPos('0-1-2,0-1-3')).toThrow();
  });
  it('merges MySQL intervals and tests subsets', () => {
    const s = parseMysqlSet(`${U.toUpperCase()}:1-5:6-9:12`);
    expect(s.get(U)).toEqual([
      [1n, 9n],
      [12n, 12n],
    ]);
    expect(mysqlSubset(parseMysqlSet(`${U}:2-9`), s)).toBe(true);
    expect(mysqlSubset(parseMysqlSet(`${U}:2-10`), s)).toBe(false);
    expect(mysqlSubset(parseMysqlSet(''), s)).toBe(true);
    expect(() => parseMysqlSet(`${U}:5-3`)).toThrow(/MySQL GTID/);
  });
});

describe('validatePosition (MariaDB)', () => {
  it('accepts a position inside a file the server has, up to its end', () => {
    expect(validatePosition({ file: 'mariadb-bin.000003', pos: 4 }, maria).valid).toBe(true);
    expect(validatePosition({ file: 'mariadb-bin.000004', pos: 500 }, maria).valid).toBe(true);
  });
  it('a file older than the oldest on the server is purged, with the snapshot remedy', () => {
    const v = validatePosition({ file: 'mariadb-bin.000002', pos: 4 }, maria);
    expect(v).toMatchObject({ valid: false, reason: 'BinlogFilePurged', purged: true });
    expect(!v.valid && v.remedy).toContain('snapshot');
  });
  it('a newer file or another basename is not found, not purged', () => {
    expect(validatePosition({ file: 'mariadb-bin.000005', pos: 4 }, maria)).toMatchObject({
      reason: 'BinlogFileNotFound',
      purged: false,
    });
    expect(validatePosition({ file: 'other-bin.000001', pos: 4 }, maria)).toMatchObject({
      reason: 'BinlogFileNotFound',
    });
  });
  it('a byte offset past the end of the file, or before the header, is refused', () => {
    expect(validatePosition({ file: 'mariadb-bin.000004', pos: 501 }, maria)).toMatchObject({
      reason: 'PositionBeyondEnd',
    });
    expect(validatePosition({ file: 'mariadb-bin.000004', pos: 3 }, maria)).toMatchObject({
      reason: 'PositionBeyondEnd',
    });
  });
  it('GTIDs: at the purge boundary is fine, one before is purged, past the head is not on the server', () => {
    expect(validatePosition({ gtid: '0-1-40' }, maria).valid).toBe(true);
    expect(validatePosition({ gtid: '0-1-90,1-1-7' }, maria).valid).toBe(true);
    expect(validatePosition({ gtid: '0-1-39' }, maria)).toMatchObject({ reason: 'GtidPurged', purged: true });
    expect(validatePosition({ gtid: '1-1-3' }, maria)).toMatchObject({ reason: 'GtidPurged' });
    expect(validatePosition({ gtid: '0-1-91' }, maria)).toMatchObject({ reason: 'GtidNotOnServer' });
    expect(validatePosition({ gtid: '0-1-50,9-1-1' }, maria)).toMatchObject({ reason: 'GtidNotOnServer' });
    expect(validatePosition({ gtid: 'banana' }, maria)).toMatchObject({ reason: 'GtidMalformed' });
  });
  it('with both GTID and file given, a purge wins over other problems', () => {
    expect(validatePosition({ gtid: '0-1-99', file: 'mariadb-bin.000001', pos: 4 }, maria)).toMatchObject({
      reason: 'BinlogFilePurged',
    });
  });
  it('refuses an empty position', () => {
    expect(validatePosition({ gtid: null }, maria)).toMatchObject({ valid: false, reason: 'NoPosition' });
  });
});

describe('validatePosition (MySQL)', () => {
  it('needs the purged set inside the position and the position inside the executed set', () => {
    expect(validatePosition({ gtid: `${U}:1-50` }, mysql).valid).toBe(true);
    expect(validatePosition({ gtid: `${U}:1-10` }, mysql)).toMatchObject({ reason: 'GtidPurged' });
    expect(validatePosition({ gtid: `${U}:1-101` }, mysql)).toMatchObject({ reason: 'GtidNotOnServer' });
    expect(validatePosition({ gtid: `${U}:x` }, mysql)).toMatchObject({ reason: 'GtidMalformed' });
  });
});

describe('validatePosition remedies', () => {
  it("uses the caller's remedies, so each component names its own settings", () => {
    const remedies = { purged: 'take a new snapshot', notFound: 'pick another position' };
    expect(validatePosition({ gtid: '0-1-39' }, maria, remedies)).toMatchObject({
      remedy: 'take a new snapshot',
    });
    expect(validatePosition({ gtid: '0-1-91' }, maria, remedies)).toMatchObject({
      remedy: 'pick another position',
    });
  });
});
