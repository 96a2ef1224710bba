import type { Pool, PoolConnection } from 'mysql2/promise';
import { type CachedTable, type CanonicalRow, canonicalRow, columnsOf } from '../core/cache/rows.ts';

type Queryable = Pool | PoolConnection;

export async function countRows(db: Queryable, table: CachedTable): Promise<number> {
  const [rows] = await db.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
  return Number((rows as { n: string | number }[])[0]?.n ?? 0);
}

/**
 * All rows of a cached table in canonical form, by keyset pages on the primary key. DATETIME(6) is read
 * as text so microseconds survive (a JS Date keeps milliseconds only).
 */
export async function* readSourceRows(
  db: Queryable,
  table: CachedTable,
  batchSize: number,
): AsyncGenerator<CanonicalRow[]> {
  const columns = columnsOf(table)
    .map((c) => `\`${c}\``)
    .join(', ');
  let after: string | null = null;
  for (;;) {
    const [rows]: [unknown, unknown] = await db.query({
      sql: `SELECT ${columns} FROM \`${table}\` ${after === null ? '' : 'WHERE id > ?'} ORDER BY id LIMIT ?`,
      values: after === null ? [batchSize] : [after, batchSize],
      dateStrings: true,
    });
    const batch: CanonicalRow[] = (rows as Record<string, unknown>[]).map((r) => canonicalRow(table, r));
    if (batch.length === 0) return;
    yield batch;
    after = String(batch.at(-1)?.id);
    if (batch.length < batchSize) return;
  }
}

/** One row by primary key (a point read), canonical; null when MySQL has no such row. */
export async function readSourceRow(
  db: Queryable,
  table: CachedTable,
  id: string,
): Promise<CanonicalRow | null> {
  const columns = columnsOf(table)
    .map((c) => `\`${c}\``)
    .join(', ');
  const [rows]: [unknown, unknown] = await db.query({
    sql: `SELECT ${columns} FROM \`${table}\` WHERE id = ?`,
    values: [id],
    dateStrings: true,
  });
  const row = (rows as Record<string, unknown>[])[0];
  return row === undefined ? null : canonicalRow(table, row);
}
