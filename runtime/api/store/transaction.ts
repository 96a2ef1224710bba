import type { PoolConnection } from 'mysql2/promise';
import { commitWithPosition, trackOwnCommits } from '../../core/binlog/source.ts';
import type { Pool } from '../../core/db/pool.ts';

export type Tx = PoolConnection;

/** Where a commit landed: its own GTID and source sequence. */
export type CommitPosition = { gtid: string; sequence: bigint };

/**
 * Runs `fn` in one READ COMMITTED transaction (no gap locks, so writers for different keys never
 * block or deadlock each other) and returns its result with the commit's own position (its GTID
 * and source sequence: what a consistency token names), or null when nothing was written.
 */
export async function inTransaction<T>(
  pool: Pool,
  fn: (tx: Tx) => Promise<T>,
): Promise<{ value: T; gtid: string | null; position: CommitPosition | null }> {
  const conn = await pool.getConnection();
  try {
    await trackOwnCommits(conn);
    await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.beginTransaction();
    let value: T;
    let position: CommitPosition | null;
    try {
      value = await fn(conn);
      position = await commitWithPosition(conn);
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
    return { value, gtid: position?.gtid ?? null, position };
  } finally {
    conn.release();
  }
}

/** mysql2 error code of a driver error, if any. */
export function sqlErrorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}
