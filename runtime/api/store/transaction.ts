import type { PoolConnection } from 'mysql2/promise';
import type { Pool } from '../../core/db/pool.ts';
import { lastCommitGtid } from './gtid.ts';

export type Tx = PoolConnection;

/**
 * Runs `fn` in one READ COMMITTED transaction (no gap locks, so writers for different keys never
 * block or deadlock each other) and returns its result with the commit's GTID, read on the same
 * connection right after COMMIT.
 */
export async function inTransaction<T>(
  pool: Pool,
  fn: (tx: Tx) => Promise<T>,
): Promise<{ value: T; gtid: string | null }> {
  const conn = await pool.getConnection();
  try {
    await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    await conn.beginTransaction();
    let value: T;
    try {
      value = await fn(conn);
      await conn.commit();
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
    return { value, gtid: await lastCommitGtid(conn) };
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
