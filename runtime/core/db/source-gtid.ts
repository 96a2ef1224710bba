import type { Pool, PoolConnection } from 'mysql2/promise';
import { readSourceState } from '../binlog/source.ts';

/**
 * The source's GTID state (MariaDB `@@gtid_binlog_pos`, MySQL `@@gtid_executed`), or null before the
 * first transaction: what a page read from MySQL holds at least (runtime/core/binlog/source.ts).
 */
export async function currentSourceGtid(db: Pool | PoolConnection): Promise<string | null> {
  return (await readSourceState(db)).gtid;
}
