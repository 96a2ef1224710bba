import type { Pool, PoolConnection } from 'mysql2/promise';
import { openConsistentSnapshot, type SourceState } from '../binlog/source.ts';

/**
 * Runs `read` inside a consistent, read-only snapshot of the source, with the source state the
 * snapshot holds at least (openConsistentSnapshot): its sequence is a safe version for what is read
 * (one too low is safe for the compare-and-set in Redis, one too high would not be). The full rebuild
 * and the per-user repair write what they read here with versions derived from it.
 */
export async function withSourceSnapshot<T>(
  pool: Pool,
  read: (conn: PoolConnection, state: SourceState) => Promise<T>,
): Promise<T> {
  const conn = await pool.getConnection();
  try {
    const state = await openConsistentSnapshot(conn);
    try {
      return await read(conn, state);
    } finally {
      await conn.query('COMMIT');
    }
  } finally {
    conn.release();
  }
}
