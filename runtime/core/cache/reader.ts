import { tokenSequence, transactionFloor } from '../position.ts';
import { isCluster, type RedisClient, retryRedirects } from '../redis/client.ts';
import type { LeanRedis, Reply } from '../redis/lean.ts';
import { positionOfMarker } from './applied-position.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { cacheKeys } from './keys.ts';
import { isNoScript } from './lua.ts';
import { microsOfIso } from './rows.ts';
import { readPackageScript } from './scripts.ts';
import type {
  CacheRead,
  HeldPage,
  PackageEntry,
  PackagePage,
  PurchasePackageReader,
  ReadOptions,
  RenderedRead,
} from './types.ts';

export const MAX_PAGE_SIZE = 100;
/** A catalog is small; past this many package ids the rest are asked for after the entries. */
const MAX_KNOWN_PACKAGES = 64;

/**
 * The api's Redis reader: one EVALSHA to the user's slot answers the page, the consistency-token check
 * and whether that slot is materialised at all, and on one server the page's package names too; on a
 * cluster one HMGET to the catalog's slot then names them (a rename never fans out to every user's
 * entries). Entries come pre-rendered by the apply script and the names are spliced in here; the page
 * becomes the response body without being parsed.
 * Answers a cluster gives while a slot moves or a master fails over (MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN...) are retried briefly: ioredis follows most of them itself, not all inside a pipeline.
 */
export class RedisPurchasePackageReader implements PurchasePackageReader {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof cacheKeys>;
  private readonly cluster: boolean;
  private readonly lean: LeanRedis | null;
  /** False once the server refused MULTI (an ACL user without it): first pages use the script too. */
  private plainFirstPage = true;
  /** Package ids first pages named (bounded): their names are asked for with the entries. */
  private readonly knownPackages = new Set<string>();

  /**
   * `lean`: the hot-path connection to the same standalone server (runtime/core/redis/lean.ts) that
   * the page call takes instead of `redis`; null (Sentinel, Cluster) keeps every call on ioredis.
   */
  constructor(redis: RedisClient, prefix: string, lean: LeanRedis | null = null) {
    this.redis = redis;
    this.keys = cacheKeys(prefix);
    this.cluster = isCluster(redis);
    this.lean = this.cluster ? null : lean;
  }

  /** Optional warm-up; the first read loads the script anyway. */
  async load(): Promise<void> {
    await readPackageScript.load(this.redis);
  }

  /** Nothing is held in process memory here: every read is a round trip. */
  peek(_userId: string, _opts: ReadOptions): HeldPage | undefined {
    return undefined;
  }

  /**
   * `opts.cursor` must come from a previous page (`decodeCursor` in the api answers 400 for a bad one;
   * here it throws RangeError). Token rows of tables the cache does not hold are not checked.
   */
  async read(userId: string, opts: ReadOptions): Promise<RenderedRead> {
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
    // The token's rows of the user's tables, as the user's copies (packages are not a user's writes).
    const tokenRows: string[] = [];
    for (const r of opts.token?.rows ?? []) {
      const cut = r.indexOf(':');
      const table = r.slice(0, cut);
      if (cut > 0 && (table === 'purchases' || table === 'payments'))
        tokenRows.push(this.keys.userRow(userId, table, r.slice(cut + 1)));
    }
    if (this.lean && this.plainFirstPage && opts.cursor === null) {
      try {
        return await this.readFirstPage(this.lean, userId, opts.limit, floor, tokenRows);
      } catch (err) {
        // An ACL user granted the script and read commands but not MULTI/EXEC: keep to the script.
        if (!(err instanceof Error && err.message.startsWith('NOPERM'))) throw err;
        this.plainFirstPage = false;
      }
    }
    const keys = [
      this.keys.readyFor(userId),
      this.keys.userPurchases(userId),
      this.keys.userEntries(userId),
      this.keys.appliedFor(userId),
      ...tokenRows,
    ];
    // One server: the names join the page's call (one round trip); a cluster asks the catalog's slot.
    if (!this.cluster) keys.push(this.keys.catalogNames);
    const args = [opts.limit, cursorScore, cursorId, floor, tokenRows.length];
    const reply = (
      this.lean
        ? await this.runLean(keys, args)
        : await retryRedirects(() => readPackageScript.runBuffer(this.redis, keys, args))
    ) as unknown[];

    const kind = String(reply[0]);
    if (kind === 'miss') return { kind: 'miss' };
    if (kind === 'behind') return { kind: 'behind' };
    const [, more, entries, marker, joined] = reply as [Buffer, number, Buffer[], Buffer, Buffer[]?];
    const wanted = joined ? [] : packagesOf(entries);
    const names: Buffer[] = joined ?? [];
    if (wanted.length > 0) {
      const found = (await retryRedirects(() =>
        this.redis.hmgetBuffer(this.keys.catalogNames, ...wanted),
      )) as (Buffer | null)[];
      for (let i = 0; i < wanted.length; i++) {
        const name = found[i];
        // A purchase whose package is not in the cached catalog: Redis is not complete.
        if (!name) return { kind: 'miss' };
        names.push(Buffer.from(wanted[i] as string), name);
      }
    }
    return { kind: 'hit', body: renderPage(entries, names, more === 1), position: positionOfMarker(marker) };
  }

  /**
   * The first page on the lean connection, without the script: Lua copying every entry into and out
   * of the interpreter costs Redis several times what the commands themselves cost (about 50 µs
   * against 10 µs for a page of 20). Two round trips instead of one (three when a page names a
   * package for the first time), with the script's guarantees:
   * 1. MULTI: the slot's applied position, its ready marker, the index range and the token rows'
   *    versions in one atomic step (no index read from a flushed slot, no position newer than the
   *    index, the token checked against the same state);
   * 2. the entries of those ids: every change moves forward (versioned), so each entry is at least as
   *    new as the index it came with; an id whose entry is gone since (a delete, a flush) is a miss;
   * 3. the names of their packages (with 2, for the packages seen before); a package missing from the
   *    cached catalog is a miss.
   * The page therefore holds at least the position it names, as the script's does.
   */
  private async readFirstPage(
    lean: LeanRedis,
    userId: string,
    limit: number,
    floor: string,
    tokenRows: string[],
  ): Promise<RenderedRead> {
    const k = this.keys;
    const slot = k.userSlot(userId); // once: the marker keys are per slot
    const cmds: (string | number)[][] = [
      ['MULTI'],
      ['GET', k.applied(slot)],
      ['EXISTS', k.ready(slot)],
      ['ZREVRANGE', k.userPurchases(userId), 0, limit],
    ];
    for (const row of tokenRows) cmds.push(['HGET', row, 'v']);
    cmds.push(['EXEC']);
    const replies = await lean.callMany(cmds);
    if (replies[0] instanceof Error) throw replies[0];
    const exec = replies[replies.length - 1];
    if (!Array.isArray(exec))
      throw exec instanceof Error ? exec : new Error('the page transaction was aborted');
    for (const r of exec) if (r instanceof Error) throw r;
    const [marker, ready, ids, ...versions] = exec as [Buffer | null, number, Buffer[], ...(Buffer | null)[]];
    if (ready === 0) return { kind: 'miss' };
    if (floor !== '')
      for (const v of versions) if (v === null || v.toString() < floor) return { kind: 'behind' };
    const position = positionOfMarker(marker);
    const more = ids.length > limit;
    if (ids.length === 0) return { kind: 'hit', body: renderPage([], [], false), position };
    const wanted: string[] = [];
    for (let i = 0; i < ids.length && i < limit; i++) wanted.push(String(ids[i]));
    // The names of the packages pages named so far ride along with the entries (one round trip
    // fewer); a package not among them yet is asked for after. Always read now, never remembered.
    const known = [...this.knownPackages];
    const [entries, guessed] = (await Promise.all([
      lean.call(['HMGET', k.userEntries(userId), ...wanted]),
      known.length > 0 ? lean.call(['HMGET', k.catalogNames, ...known]) : [],
    ])) as [Reply[], Reply[]];
    for (const e of entries) if (!Buffer.isBuffer(e)) return { kind: 'miss' };
    const packages = packagesOf(entries as Buffer[]);
    const nameOf = new Map<string, Reply>();
    for (let i = 0; i < known.length; i++) nameOf.set(known[i] as string, guessed[i] ?? null);
    const unknown = packages.filter((id) => !nameOf.has(id));
    if (unknown.length > 0) {
      const found = (await lean.call(['HMGET', k.catalogNames, ...unknown])) as Reply[];
      unknown.forEach((id, i) => {
        nameOf.set(id, found[i] ?? null);
        if (this.knownPackages.size < MAX_KNOWN_PACKAGES) this.knownPackages.add(id);
      });
    }
    const names: Buffer[] = [];
    for (const id of packages) {
      const name = nameOf.get(id);
      // A purchase whose package is not in the cached catalog: Redis is not complete.
      if (!Buffer.isBuffer(name)) return { kind: 'miss' };
      names.push(Buffer.from(id), name);
    }
    return { kind: 'hit', body: renderPage(entries as Buffer[], names, more), position };
  }

  /** The page script on the lean connection: EVALSHA, or EVAL where the server lacks the script. */
  private async runLean(keys: string[], args: (string | number)[]): Promise<unknown> {
    const lean = this.lean as LeanRedis;
    try {
      return await lean.call(['EVALSHA', readPackageScript.sha, keys.length, ...keys, ...args]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return lean.call(['EVAL', readPackageScript.source, keys.length, ...keys, ...args]);
    }
  }
}

/** A reader's answer with the page as objects (tests, tools; the api sends the bytes as they are). */
export async function readPage(
  reader: PurchasePackageReader,
  userId: string,
  opts: ReadOptions,
): Promise<CacheRead> {
  const r = await reader.read(userId, opts);
  return r.kind === 'hit' ? { kind: 'hit', page: JSON.parse(r.body.toString()) as PackagePage } : r;
}

/** The distinct package ids of a page's entries (`<package id>\x01…`). */
function packagesOf(entries: Buffer[]): string[] {
  const ids = new Set<string>();
  for (const entry of entries) {
    const cut = entry.indexOf(1);
    if (cut > 0) ids.add(entry.toString('utf8', 0, cut));
  }
  return [...ids];
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
