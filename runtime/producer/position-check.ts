import { isEventBoundary, readServerBinlogState, type ServerBinlogState } from '../core/binlog/server.ts';
import { type ResumePosition, validatePosition } from '../core/binlog/validate.ts';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import { createPool } from '../core/db/pool.ts';
import {
  BinlogPositionNotOnServerError,
  type BinlogPositionUnavailableError,
  BinlogPurgedError,
} from './position-errors.ts';

/** What the reader resumes from: the GTID when there is one (file/pos are then informational). */
export function resumePositionOf(cp: Pick<Checkpoint, 'gtid' | 'file' | 'pos'>): ResumePosition {
  return cp.gtid !== null ? { gtid: cp.gtid } : { file: cp.file, pos: cp.pos };
}

/** The error to stop with (or re-snapshot on) when `state` cannot serve `position`; null when it can. */
export function positionProblem(
  position: ResumePosition,
  state: ServerBinlogState,
): BinlogPositionUnavailableError | null {
  const verdict = validatePosition(position, state);
  if (verdict.valid) return null;
  return verdict.purged
    ? new BinlogPurgedError(verdict.reason, verdict.message)
    : new BinlogPositionNotOnServerError(verdict.reason, verdict.message);
}

/**
 * Checks `position` against the live server before streaming from it. Needed because MariaDB answers
 * a GTID it never had by waiting for it instead of failing, so the stream alone cannot tell.
 */
export async function checkPositionOnServer(
  mysqlUrl: string,
  position: ResumePosition,
): Promise<BinlogPositionUnavailableError | null> {
  const pool = createPool(mysqlUrl, { connectionLimit: 1, connectTimeout: 10_000 });
  try {
    const problem = positionProblem(position, await readServerBinlogState(pool));
    if (problem || position.file === undefined || position.pos === undefined) return problem;
    if (await isEventBoundary(pool, position.file, position.pos)) return null;
    return new BinlogPositionNotOnServerError(
      'NotAnEventStart',
      `${position.file}:${position.pos} is not the start of an event`,
    );
  } finally {
    await pool.end().catch(() => undefined);
  }
}
