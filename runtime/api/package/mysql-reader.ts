import { decodeCursor, encodeCursor, type PageCursor } from '../../core/cache/cursor.ts';
import { packageEntry } from '../../core/cache/entries.ts';
import { MAX_PAGE_SIZE } from '../../core/cache/reader.ts';
import type {
  HeldPage,
  PackageEntry,
  PackagePage,
  PaymentStatus,
  PurchasePackageReader,
  ReadOptions,
  RenderedRead,
} from '../../core/cache/types.ts';
import type { Pool } from '../../core/db/pool.ts';
import { currentSourceGtid } from '../../core/db/source-gtid.ts';
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
 * The package reader of the fallback: MySQL holds every user's package and is the source of truth, so
 * it always answers (never `miss`, never `behind`: a consistency token names a position MySQL has
 * committed). The position is the source's, read before the page, so the page holds at least it.
 */
export class MysqlPackageReader implements PurchasePackageReader {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  peek(_userId: string, _opts: ReadOptions): HeldPage | undefined {
    return undefined;
  }

  async read(userId: string, opts: ReadOptions): Promise<RenderedRead> {
    if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_PAGE_SIZE) {
      throw new RangeError(`limit must be an integer in 1..${MAX_PAGE_SIZE}`);
    }
    const cursor = opts.cursor === null ? null : decodeCursor(opts.cursor);
    if (opts.cursor !== null && !cursor) throw new RangeError('invalid cursor');
    const position = await currentSourceGtid(this.pool);
    const page = await readPackageFromMysql(this.pool, userId, opts.limit, cursor);
    return { kind: 'hit', body: JSON.stringify(page), position };
  }
}

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
