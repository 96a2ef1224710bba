import { describe, expect, it } from 'vitest';
import type { ServerBinlogState } from '../core/binlog/server.ts';
import { positionProblem, resumePositionOf } from './position-check.ts';
import {
  BinlogPositionNotOnServerError,
  BinlogPositionUnavailableError,
  BinlogPurgedError,
} from './position-errors.ts';

/** A fresh MariaDB: its first binlog is still there, so nothing counts as purged. */
const fresh: ServerBinlogState = {
  flavor: 'mariadb',
  files: [{ name: 'mariadb-bin.000001', size: 9000 }],
  head: { file: 'mariadb-bin.000001', pos: 9000 },
  gtidExecuted: '0-2-57',
  gtidPurged: '',
  nowMs: 0,
};

/** A long-lived MariaDB whose binlogs up to 000006 were purged. */
const purged: ServerBinlogState = {
  ...fresh,
  files: [
    { name: 'mariadb-bin.000007', size: 5000 },
    { name: 'mariadb-bin.000008', size: 700 },
  ],
  head: { file: 'mariadb-bin.000008', pos: 700 },
  gtidExecuted: '0-2-9000',
  gtidPurged: '0-2-8000',
};

describe('positionProblem', () => {
  it('refuses a GTID domain a fresh server never had (MariaDB would wait for it instead of failing)', () => {
    const err = positionProblem({ gtid: '9-2-1' }, fresh);
    expect(err).toBeInstanceOf(BinlogPositionNotOnServerError);
    expect(err).toBeInstanceOf(BinlogPositionUnavailableError);
    expect(err?.reason).toBe('GtidNotOnServer');
    expect(err?.message).toMatch(/does not exist on this server.*Remedy: .*SNAPSHOT_MODE=when_needed/);
  });

  it('reports the same GTID as purged on a server whose oldest binlog starts after domain 0 began', () => {
    const err = positionProblem({ gtid: '9-2-1' }, purged);
    expect(err).toBeInstanceOf(BinlogPurgedError);
    expect(err?.reason).toBe('GtidPurged');
  });

  it('refuses a GTID ahead of the server and a file/pos that is purged, missing or past the end', () => {
    expect(positionProblem({ gtid: '0-2-58' }, fresh)?.reason).toBe('GtidNotOnServer');
    expect(positionProblem({ file: 'mariadb-bin.000003', pos: 4 }, purged)).toBeInstanceOf(BinlogPurgedError);
    expect(positionProblem({ file: 'mariadb-bin.000009', pos: 4 }, purged)?.reason).toBe(
      'BinlogFileNotFound',
    );
    expect(positionProblem({ file: 'mariadb-bin.000008', pos: 701 }, purged)?.reason).toBe(
      'PositionBeyondEnd',
    );
  });

  it('accepts positions the server can stream from', () => {
    expect(positionProblem({ gtid: '0-2-57' }, fresh)).toBeNull();
    expect(positionProblem({ gtid: '0-2-8000' }, purged)).toBeNull();
    expect(positionProblem({ file: 'mariadb-bin.000007', pos: 4 }, purged)).toBeNull();
  });
});

describe('resumePositionOf', () => {
  it('checks what the reader resumes from: the GTID when there is one, else file/pos', () => {
    expect(resumePositionOf({ gtid: '0-2-5', file: 'mariadb-bin.000001', pos: 4 })).toEqual({
      gtid: '0-2-5',
    });
    expect(resumePositionOf({ gtid: null, file: 'mariadb-bin.000001', pos: 120 })).toEqual({
      file: 'mariadb-bin.000001',
      pos: 120,
    });
  });
});
