import { Redis } from 'ioredis';
import { RESP_TYPES, type RedisClientType } from 'redis';
import { gtidSequence, transactionFloor } from '../position.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { cacheKeys } from './keys.ts';
import { isNoScript } from './lua.ts';
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

/** A node-redis client (`createClient` from `redis`), any modules or type mapping. */
// biome-ignore lint/suspicious/noExplicitAny: the client's generics do not matter to the reader
export type NodeRedisClient = RedisClientType<any, any, any, any, any>;

/** Runs the read script by SHA and answers its reply with bulk strings as Buffers. */
type RunReadScript = (keys: string[], args: string[]) => Promise<unknown>;

/**
 * The api's Redis reader: one EVALSHA per request answers the page, the consistency-token check and
 * whether Redis is materialised at all. Entries come pre-rendered by the apply script; the package
 * names come from the cached catalog in the same call and are spliced in here (a rename never fans
 * out to every user's entries). The page becomes the response body without being parsed.
 *
 * Takes an ioredis or a node-redis client. The api runs it on node-redis: for this call it costs about
 * 40% less CPU per read than ioredis with auto-pipelining (docs/api.md, bench/api/redis-clients.ts).
 */
export class RedisPurchasePackageReader implements PurchasePackageReader {
  private readonly keys: ReturnType<typeof cacheKeys>;
  private readonly runScript: RunReadScript;
  /** Loads the script into Redis (warm-up, and the reload after NOSCRIPT). */
  readonly load: () => Promise<void>;

  constructor(redis: Redis | NodeRedisClient, prefix: string) {
    this.keys = cacheKeys(prefix);
    if (redis instanceof Redis) {
      this.runScript = (keys, args) => readPackageScript.runBuffer(redis, keys, args);
      this.load = () => readPackageScript.load(redis);
    } else {
      [this.runScript, this.load] = nodeRedisScript(redis);
    }
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
    const floor = opts.token ? transactionFloor(gtidSequence(opts.token.gtid)) : '';
    const tokenRows = opts.token ? opts.token.rows.filter((r) => isCachedTable(r.split(':')[0] ?? '')) : [];
    const reply = (await this.runScript(
      [
        this.keys.ready,
        this.keys.userPurchases(userId),
        this.keys.userEntries(userId),
        this.keys.catalogNames,
      ],
      [this.keys.rowPrefix, String(opts.limit), cursorScore, cursorId, floor, ...tokenRows],
    )) as unknown[];

    const kind = String(reply[0]);
    if (kind === 'miss') return { kind: 'miss' };
    if (kind === 'behind') return { kind: 'behind' };
    const [, more, entries, names] = reply as [Buffer, number, Buffer[], Buffer[]];
    return { kind: 'hit', body: renderPage(entries, names, more === 1) };
  }
}

/**
 * The read script on node-redis, bulk strings as Buffers. node-redis writes every command queued in
 * one tick in one socket write (its own auto-pipelining); it does not reload scripts by itself.
 */
function nodeRedisScript(client: NodeRedisClient): [RunReadScript, () => Promise<void>] {
  const buffers = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const load = async () => {
    const sha = await client.scriptLoad(readPackageScript.source);
    if (sha !== readPackageScript.sha) {
      throw new Error(`Redis returned SHA ${String(sha)} for script ${readPackageScript.sha}`);
    }
  };
  const evalSha = (keys: string[], args: string[]) =>
    buffers.evalSha(readPackageScript.sha, { keys, arguments: args }) as Promise<unknown>;
  const run: RunReadScript = async (keys, args) => {
    try {
      return await evalSha(keys, args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await load();
      return evalSha(keys, args);
    }
  };
  return [run, load];
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
