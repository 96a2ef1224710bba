import type { Redis } from 'ioredis';
import { gtidSequence, transactionFloor } from '../position.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { cacheKeys } from './keys.ts';
import { isCachedTable, microsOfIso } from './rows.ts';
import { readPackageScript } from './scripts.ts';
import type {
  CacheRead,
  PackageEntry,
  PackagePage,
  PurchasePackageReader,
  ReadOptions,
  RenderedRead,
} from './types.ts';

export const MAX_PAGE_SIZE = 100;

/**
 * The api's Redis reader: one EVALSHA per request answers the page, the consistency-token check and
 * whether Redis is materialised at all. Entries come pre-rendered by the apply script; the package
 * names come from the cached catalog in the same call and are spliced in here (a rename never fans
 * out to every user's entries). The page becomes the response body without being parsed.
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

  /** The page as objects (tests, tools); the api uses `readRendered`. */
  async read(userId: string, opts: ReadOptions): Promise<CacheRead> {
    const r = await this.readRendered(userId, opts);
    return r.kind === 'hit' ? { kind: 'hit', page: JSON.parse(r.body) as PackagePage } : r;
  }

  /**
   * `opts.cursor` must come from a previous page (`decodeCursor` in the api answers 400 for a bad one;
   * here it throws RangeError). Token rows of tables the cache does not hold are not checked.
   */
  async readRendered(userId: string, opts: ReadOptions): Promise<RenderedRead> {
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
      [
        this.keys.ready,
        this.keys.userPurchases(userId),
        this.keys.userEntries(userId),
        this.keys.catalogNames,
      ],
      [this.keys.rowPrefix, opts.limit, cursorScore, cursorId, floor, ...tokenRows],
    )) as unknown[];

    if (reply[0] === 'miss') return { kind: 'miss' };
    if (reply[0] === 'behind') return { kind: 'behind' };
    const [, more, entries, names] = reply as [string, number, string[], string[]];
    return { kind: 'hit', body: renderPage(entries, names, more === 1) };
  }
}

/**
 * The response body from the script's reply: each entry is `<package id>\x01<JSON up to the name>`;
 * the name (already a JSON string) and the closing braces complete it. The cursor names the last entry.
 */
function renderPage(entries: string[], names: string[], more: boolean): string {
  const nameOf = new Map<string, string>();
  for (let i = 0; i + 1 < names.length; i += 2) nameOf.set(names[i] as string, names[i + 1] as string);
  const items: string[] = [];
  for (const entry of entries) {
    const cut = entry.indexOf('\x01');
    const name = nameOf.get(entry.slice(0, cut));
    if (cut < 0 || name === undefined) throw new Error('cache entry without its package name');
    items.push(`${entry.slice(cut + 1)}${name}}}`);
  }
  let next = 'null';
  const last = items.at(-1);
  if (more && last !== undefined) {
    const { purchase_id, created_at } = JSON.parse(last) as PackageEntry;
    next = JSON.stringify(encodeCursor({ createdAt: created_at, id: purchase_id }));
  }
  return `{"items":[${items.join(',')}],"next_cursor":${next}}`;
}
