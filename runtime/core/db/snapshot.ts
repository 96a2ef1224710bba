import type { Pool, PoolConnection } from 'mysql2/promise';
import { currentSourceGtid } from './source-gtid.ts';

/**
 * Runs `read` inside a consistent, read-only snapshot of the source, with the GTID read *before* the
 * snapshot opened: the snapshot contains at least that transaction (a version that is too low is safe
 * for the compare-and-set in Redis, one too high would not be). The full rebuild and the per-user
 * repair write what they read here with versions derived from that GTID.
 */
export async function withSourceSnapshot<T>(
  pool: Pool,
  read: (conn: PoolConnection, gtid: string | null) => Promise<T>,
): Promise<T> {
  const conn = await pool.getConnection();
  try {
    const gtid = await currentSourceGtid(conn);
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    try {
      return await read(conn, gtid);
    } finally {
      await conn.query('COMMIT');
    }
  } finally {
    conn.release();
  }
}
