import { describe, expect, it } from 'vitest';
import {
  advanceState,
  captureProblems,
  flavorOfGtid,
  isGtidState,
  nextStreamSequence,
  sequenceAfter,
  sequenceOfState,
  stateCovers,
} from './source.ts';

const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = '2c256447-3f0d-431b-9a25-bddf1f1f6ef6';

describe('source sequences', () => {
  it('counts the transactions of a MySQL GTID set, tagged GTIDs included', () => {
    expect(sequenceOfState('mysql', `${A}:1-100`)).toBe(100n);
    expect(sequenceOfState('mysql', `${A}:1-100,${B}:1-5`)).toBe(105n);
    expect(sequenceOfState('mysql', `${A}:1-10:20-29:tag_a:1-3`)).toBe(23n);
    expect(sequenceOfState('mysql', '')).toBe(0n);
  });

  it("takes MariaDB's domain sequence, whichever server wrote it, and refuses a second domain", () => {
    expect(sequenceOfState('mariadb', '0-1-42')).toBe(42n);
    expect(sequenceOfState('mariadb', '0-7-43')).toBe(43n);
    expect(() => sequenceOfState('mariadb', '0-1-42,1-2-3')).toThrow(/one is supported/);
  });

  it('keeps growing when a new primary numbers its own UUID from 1', () => {
    const before = `${A}:1-100`;
    const first = sequenceAfter('mysql', before, `${B}:1`);
    expect(first).toBe(101n);
    expect(nextStreamSequence(first, `${B}:2`, () => undefined)).toBe(102n);
    // A GTID already in the set (a replay) does not count twice.
    expect(sequenceAfter('mysql', before, `${A}:100`)).toBe(100n);
    expect(nextStreamSequence(null, `${A}:5`, () => undefined)).toBeNull();
    expect(nextStreamSequence(null, '0-3-44', () => undefined)).toBe(44n);
  });
});

describe('GTID states', () => {
  it('tells the flavors apart and validates both', () => {
    expect(flavorOfGtid('0-1-42,1-2-3')).toBe('mariadb');
    expect(flavorOfGtid(`${A}:1-5`)).toBe('mysql');
    expect(isGtidState(`${A}:1-5:tag_x:1,${B}:3`)).toBe(true);
    expect(isGtidState('0-1-42')).toBe(true);
    expect(isGtidState('nonsense')).toBe(false);
    expect(isGtidState(`${A}:tag_x`)).toBe(false);
  });

  it('advances a MariaDB state by its domain and compares states of both flavors', () => {
    expect(advanceState('0-1-5,1-1-9', '0-2-6')).toBe('0-2-6,1-1-9');
    expect(advanceState(null, `${A}:3`)).toBeNull();
    expect(stateCovers('mysql', `${A}:1-10,${B}:1-2`, `${A}:1-10`)).toBe(true);
    expect(stateCovers('mysql', `${A}:1-9`, `${A}:1-10`)).toBe(false);
    expect(stateCovers('mariadb', '0-1-10', '0-2-9')).toBe(true);
    expect(stateCovers('mariadb', '0-1-8', '0-2-9')).toBe(false);
  });
});

describe('capture requirements', () => {
  const good = new Map([
    ['log_bin', 'ON'],
    ['binlog_format', 'ROW'],
    ['binlog_row_image', 'FULL'],
    ['binlog_row_metadata', 'FULL'],
    ['gtid_mode', 'ON'],
    ['enforce_gtid_consistency', 'ON'],
    ['binlog_transaction_compression', 'OFF'],
  ]);

  it('accepts the required settings and grants of each flavor', () => {
    expect(captureProblems('mysql', good, ['REPLICATION SLAVE', 'REPLICATION CLIENT'])).toEqual([]);
    expect(captureProblems('mariadb', good, ['REPLICATION SLAVE', 'BINLOG MONITOR'])).toEqual([]);
  });

  it('names the setting or grant to change', () => {
    const bad = new Map([...good, ['gtid_mode', 'OFF'], ['binlog_transaction_compression', 'ON']]);
    expect(captureProblems('mysql', bad, ['REPLICATION SLAVE'])).toEqual([
      'gtid_mode is OFF; set gtid_mode=ON and enforce_gtid_consistency=ON (versions and resumes need GTIDs)',
      'binlog_transaction_compression is ON; compressed transactions cannot be decoded: set it OFF',
      'the replication user lacks REPLICATION CLIENT (for SHOW BINARY LOGS / BINARY LOG STATUS): GRANT REPLICATION CLIENT ON *.* TO the user',
    ]);
    // MariaDB has no gtid_mode: not asked for.
    expect(
      captureProblems('mariadb', new Map([...good, ['gtid_mode', 'OFF']]), [
        'REPLICATION SLAVE',
        'BINLOG MONITOR',
      ]),
    ).toEqual([]);
  });
});
