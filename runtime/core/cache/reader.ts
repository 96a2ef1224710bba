import type { Redis } from 'ioredis';
import { gtidSequence, transactionFloor } from '../position.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { cacheKeys } from './keys.ts';
import { isCachedTable, microsOfIso } from './rows.ts';
import { readPackageScript } from './scripts.ts';
import type { CacheRead, PackageEntry, PaymentStatus, PurchasePackageReader, ReadOptions } from './types.ts';

export const MAX_PAGE_SIZE = 100;

/**
 * The api's Redis reader: one EVALSHA per request answers the page, the consistency-token check and
 * whether Redis is materialised at all. Package names are joined at read time from the cached catalog,
 * so renaming a package never fans out to every user's entries.
 */
export class RedisPurchasePackageReader implements PurchasePackageReader {
  private readonly redis: Redis;
  private readonly keys: ReturnType<typeof cacheKeys>;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = cacheKeys(prefix);
  }

  /** Optional warm-up; the first read loads the script anyway. */
  async load(): Promise<void> {
    await readPackageScript.load(this.redis);
  }

  /**
   * `opts.cursor` must come from a previous page (`decodeCursor` in the api answers 400 for a bad one;
   * here it throws RangeError). Token rows of tables the cache does not hold are not checked.
   */
  async read(userId: string, opts: ReadOptions): Promise<CacheRead> {
    if (!Number.isInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_PAGE_SIZE) {
      throw new RangeError(`limit must be an integer in 1..${MAX_PAGE_SIZE}`);
    }
    let cursorScore = '';
    let cursorId = '';
    if (opts.cursor !== null) {
      const cursor = decodeCursor(opts.cursor);
      if (!cursor) throw new RangeError('invalid cursor');
      cursorScore = String(microsOfIso(cursor.createdAt));
      cursorId = cursor.id;
    }
    const floor = opts.token ? transactionFloor(gtidSequence(opts.token.gtid)) : '';
    const tokenRows = opts.token ? opts.token.rows.filter((r) => isCachedTable(r.split(':')[0] ?? '')) : [];
    const reply = (await readPackageScript.run(
      this.redis,
      [this.keys.ready, this.keys.userPurchases(userId)],
      [this.keys.rowPrefix, opts.limit, cursorScore, cursorId, floor, ...tokenRows],
    )) as (string | number)[];

    if (reply[0] === 'miss') return { kind: 'miss' };
    if (reply[0] === 'behind') return { kind: 'behind' };
    const items: PackageEntry[] = [];
    for (let i = 2; i + 2 < reply.length; i += 3) {
      const entry = toEntry(String(reply[i]), String(reply[i + 1] ?? ''), String(reply[i + 2] ?? ''));
      // A purchase indexed without its catalog row means Redis is not complete: let MySQL answer.
      if (!entry) return { kind: 'miss' };
      items.push(entry);
    }
    const last = items.at(-1);
    const more = reply[1] === 1;
    return {
      kind: 'hit',
      page: {
        items,
        next_cursor: more && last ? encodeCursor({ createdAt: last.created_at, id: last.purchase_id }) : null,
      },
    };
  }
}

type Row = Record<string, unknown>;

function toEntry(purchaseJson: string, paymentJson: string, packageJson: string): PackageEntry | null {
  if (purchaseJson === '' || packageJson === '') return null;
  const purchase = JSON.parse(purchaseJson) as Row;
  const pkg = JSON.parse(packageJson) as Row;
  const payment = paymentJson === '' ? null : (JSON.parse(paymentJson) as Row);
  const status = payment ? (String(payment.status) as PaymentStatus) : null;
  return {
    purchase_id: String(purchase.id),
    user_id: String(purchase.user_id),
    package: { id: String(pkg.id), name: String(pkg.name) },
    amount: Number(purchase.amount),
    currency: String(purchase.currency),
    payment: payment && status ? { id: String(payment.id), status } : null,
    paid: status === 'succeeded',
    created_at: String(purchase.created_at),
    updated_at: String(purchase.updated_at),
  };
}
