import { encodeCursor, type PageCursor } from '../../core/cache/cursor.ts';
import { packageEntry } from '../../core/cache/entries.ts';
import type { PackageEntry, PackagePage, PaymentStatus } from '../../core/cache/types.ts';
import type { Pool } from '../../core/db/pool.ts';
import { isoSql, toSafeInt } from '../store/rows.ts';

type EntryRow = {
  purchase_id: string;
  user_id: string;
  package_id: string;
  package_name: string;
  amount: string;
  currency: string;
  payment_id: string | null;
  payment_status: PaymentStatus | null;
  created_at: string;
  updated_at: string;
};

/**
 * The purchase package straight from MySQL, in the exact shape and order of the Redis reader
 * (newest first by created_at, then id; the same cursor). Used when Redis misses or is behind the
 * caller's consistency token. It only reads: stale or partial data is never written back to Redis.
 */
export async function readPackageFromMysql(
  pool: Pool,
  userId: string,
  limit: number,
  cursor: PageCursor | null,
): Promise<PackagePage> {
  const after = cursor ? 'AND (p.created_at < ? OR (p.created_at = ? AND p.id < ?))' : '';
  const cursorTime = cursor ? cursor.createdAt.replace('T', ' ').replace('Z', '') : null;
  const params: unknown[] = [userId];
  if (cursor) params.push(cursorTime, cursorTime, cursor.id);
  params.push(limit + 1);
  const [rows] = await pool.query(
    `SELECT p.id AS purchase_id, p.user_id, p.package_id, k.name AS package_name, p.amount, p.currency,
            y.id AS payment_id, y.status AS payment_status,
            ${isoSql('p.created_at')} AS created_at, ${isoSql('p.updated_at')} AS updated_at
     FROM purchases p
     JOIN packages k ON k.id = p.package_id
     LEFT JOIN payments y ON y.purchase_id = p.id
     WHERE p.user_id = ? ${after}
     ORDER BY p.created_at DESC, p.id DESC
     LIMIT ?`,
    params,
  );
  const all = rows as EntryRow[];
  const items = all.slice(0, limit).map(toEntry);
  const last = items.at(-1);
  return {
    items,
    next_cursor:
      all.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.purchase_id }) : null,
  };
}

function toEntry(r: EntryRow): PackageEntry {
  return packageEntry({
    purchaseId: r.purchase_id,
    userId: r.user_id,
    amount: toSafeInt(r.amount, 'amount'),
    currency: r.currency,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    payment: r.payment_id && r.payment_status ? { id: r.payment_id, status: r.payment_status } : null,
    packageId: r.package_id,
    packageName: r.package_name,
  });
}
