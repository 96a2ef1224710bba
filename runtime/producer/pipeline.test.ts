import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import { advanceGtidPosition, initialCheckpoint, readerStartOf } from './pipeline.ts';
import { isPurgedError } from './position-errors.ts';

const cp = (over: Partial<Checkpoint>): Checkpoint => ({
  v: 1,
  gtid: '0-2-80',
  file: 'mariadb-bin.000002',
  pos: 900,
  partial: null,
  source_ts_ms: 0,
  ts_ms: 0,
  ...over,
});

describe('pipeline positions', () => {
  it('resumes by GTID when the checkpoint has one, by file/position otherwise, with the partial skip', () => {
    expect(readerStartOf(cp({ partial: { gtid: '0-2-81', rows: 7 } }))).toEqual({
      gtidSet: '0-2-80',
      skip: { gtid: '0-2-81', rows: 7 },
    });
    expect(readerStartOf(cp({ gtid: null }))).toEqual({ file: 'mariadb-bin.000002', pos: 900, skip: null });
  });

  it('advances a MariaDB GTID position per domain', () => {
    expect(advanceGtidPosition(null, '0-2-5')).toBe('0-2-5');
    expect(advanceGtidPosition('0-2-5,1-3-9', '0-2-6')).toBe('0-2-6,1-3-9');
    expect(advanceGtidPosition('1-3-9', '0-2-6')).toBe('0-2-6,1-3-9');
    expect(advanceGtidPosition('0-2-5', null)).toBe('0-2-5');
  });

  it('pins fixed start points in a first checkpoint', () => {
    const source = {
      flavor: 'mariadb' as const,
      version: '10.11',
      serverId: 2,
      gtidPos: '0-2-9',
      file: 'b.000003',
      pos: 77,
    };
    expect(initialCheckpoint({ kind: 'latest' }, source)).toMatchObject({
      gtid: '0-2-9',
      file: 'b.000003',
      pos: 77,
    });
    expect(initialCheckpoint({ kind: 'position', file: 'b.000001', pos: 4 }, source)).toMatchObject({
      gtid: null,
      file: 'b.000001',
      pos: 4,
    });
    expect(initialCheckpoint({ kind: 'earliest' }, source)).toBeNull();
  });

  it('recognises purged-position errors', () => {
    expect(isPurgedError({ errno: 1236, message: 'x' })).toBe(true);
    expect(isPurgedError(new Error('Could not find GTID state requested by slave'))).toBe(true);
    expect(isPurgedError(new Error('Connection lost'))).toBe(false);
  });
});
