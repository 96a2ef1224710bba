import type { Redis } from 'ioredis';
import { tokenSequence, transactionFloor } from '../position.ts';
import { appliedPositionKey, positionOfMarker } from './applied-position.ts';
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
  private readonly appliedKey: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = cacheKeys(prefix);
    this.appliedKey = appliedPositionKey(prefix);
  }

  /** Optional warm-up; the first read loads the script anyway. */
  async load(): Promise<void> {
    await readPackageScript.load(this.redis);
  }

  /** The page as objects (tests, tools); the api uses `readRendered`. */
  async read(userId: string, opts: ReadOptions): Promise<CacheRead> {
    const r = await this.readRendered(userId, opts);
    return r.kind === 'hit' ? { kind: 'hit', page: JSON.parse(r.body.toString('utf8')) as PackagePage } : r;
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
    const floor = opts.token ? transactionFloor(tokenSequence(opts.token)) : '';
    const tokenRows = opts.token ? opts.token.rows.filter((r) => isCachedTable(r.split(':')[0] ?? '')) : [];
    const reply = (await readPackageScript.runBuffer(
      this.redis,
      [
        this.keys.ready,
        this.keys.userPurchases(userId),
        this.keys.userEntries(userId),
        this.keys.catalogNames,
        this.appliedKey,
      ],
      [this.keys.rowPrefix, opts.limit, cursorScore, cursorId, floor, ...tokenRows],
    )) as unknown[];

    const kind = String(reply[0]);
    if (kind === 'miss') return { kind: 'miss' };
    if (kind === 'behind') return { kind: 'behind' };
    const [, more, entries, names, marker] = reply as [Buffer, number, Buffer[], Buffer[], Buffer];
    return { kind: 'hit', body: renderPage(entries, names, more === 1), position: positionOfMarker(marker) };
  }
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');
const CLOSE_ENTRY = Buffer.from('}}');

/**
 * The response body from the script's reply, as bytes (Redis's bytes are copied once, never decoded
 * and re-encoded): each entry is `<package id>\x01<JSON up to the name>`; the name (already a JSON
 * string) and the closing braces complete it. The cursor names the last entry.
 */
function renderPage(entries: Buffer[], names: Buffer[], more: boolean): Buffer {
  const nameOf = new Map<string, Buffer>();
  for (let i = 0; i + 1 < names.length; i += 2) nameOf.set(String(names[i]), names[i + 1] as Buffer);
  const parts: Buffer[] = [OPEN];
  let last: Buffer[] = [];
  for (const entry of entries) {
    const cut = entry.indexOf(1);
    const name = cut < 0 ? undefined : nameOf.get(entry.toString('utf8', 0, cut));
    if (name === undefined) throw new Error('cache entry without its package name');
    last = [entry.subarray(cut + 1), name, CLOSE_ENTRY];
    if (parts.length > 1) parts.push(COMMA);
    parts.push(...last);
  }
  let next = 'null';
  if (more && last.length > 0) {
    const { purchase_id, created_at } = JSON.parse(Buffer.concat(last).toString('utf8')) as PackageEntry;
    next = JSON.stringify(encodeCursor({ createdAt: created_at, id: purchase_id }));
  }
  parts.push(Buffer.from(`],"next_cursor":${next}}`));
  return Buffer.concat(parts);
}
