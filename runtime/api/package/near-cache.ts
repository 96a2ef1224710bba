import { cacheKeys } from '../../core/cache/keys.ts';
import type { HeldPage, PurchasePackageReader, ReadOptions, RenderedRead } from '../../core/cache/types.ts';
import type { InvalidationListener } from './invalidation-feed.ts';

export type NearCacheLookup = 'hit' | 'miss' | 'bypass';

export type NearCacheOptions = {
  /** Bound of the cached bodies plus their bookkeeping; least recently used users go first. */
  maxBytes: number;
  /** Safety net only: invalidations keep entries fresh; an entry older than this is read again. */
  maxAgeMs: number;
  now?: () => number;
  onLookup?: (result: NearCacheLookup) => void;
  onInvalidate?: (kind: 'user' | 'all') => void;
};

/** A held page: the body and its position header value, kept as the response sends them. */
type Entry = HeldPage & { at: number; bytes: number };
/** A Redis read in flight for a user; an invalidation meanwhile makes its answer unfit to keep. */
type Flight = { stale: boolean; refs: number };

// Rough per-entry and per-user bookkeeping (Map slots, strings, the entry object).
const ENTRY_OVERHEAD = 96;
const USER_OVERHEAD = 128;

/**
 * The purchase package served from process memory, kept exact by Redis: pages Redis answered are
 * kept per user and dropped the moment Redis reports a change to one of that user's keys (the
 * invalidation feed, `CLIENT TRACKING` in broadcasting mode); a change to the catalog names or the
 * ready marker, a flush, or the feed going down drops everything. While the feed is down every read
 * goes to Redis. Reads with a consistency token always go to Redis (the check needs row versions),
 * and only Redis hits are kept (never a miss, never MySQL's answer).
 *
 * A page read from Redis while a change to its user is being reported is not kept: the read may have
 * seen the state before the change, and its invalidation may already have been handled.
 */
export class NearCachedPackageReader implements PurchasePackageReader, InvalidationListener {
  private readonly inner: PurchasePackageReader;
  private readonly isLive: () => boolean;
  private readonly layout: ReturnType<typeof cacheKeys>;
  private readonly opts: NearCacheOptions;
  private readonly now: () => number;
  /** Insertion order is recency: a hit moves its user to the end, eviction takes from the front. */
  private readonly users = new Map<string, Map<string, Entry>>();
  private readonly flights = new Map<string, Flight>();
  /**
   * Identical reads in flight share one Redis call (a hot user's page after an invalidation), unless a
   * change was reported since it left: a later request must not get an answer older than what it knows.
   */
  private readonly shared = new Map<string, { read: Promise<RenderedRead>; flight: Flight }>();
  private totalBytes = 0;

  constructor(
    /** The reader it keeps pages of (the Redis reader). */
    inner: PurchasePackageReader,
    /** The invalidation feed's health: nothing is served from or kept in memory while it is false. */
    isLive: () => boolean,
    prefix: string,
    opts: NearCacheOptions,
  ) {
    if (!(opts.maxBytes > 0) || !(opts.maxAgeMs > 0))
      throw new RangeError('maxBytes and maxAgeMs must be > 0');
    this.inner = inner;
    this.isLive = isLive;
    this.layout = cacheKeys(prefix);
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** The key prefixes whose changes must reach `keys()`. */
  static watchedPrefixes(prefix: string): string[] {
    const keys = cacheKeys(prefix);
    return [keys.userPrefix, keys.catalogNames, keys.readyPrefix];
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get userCount(): number {
    return this.users.size;
  }

  peek(userId: string, opts: ReadOptions): HeldPage | undefined {
    if (opts.token !== null || !this.isLive()) return undefined;
    const entry = this.lookup(userId, variantOf(opts));
    if (!entry) return undefined;
    this.opts.onLookup?.('hit');
    return entry;
  }

  read(userId: string, opts: ReadOptions): Promise<RenderedRead> {
    const held = this.peek(userId, opts);
    if (held) return Promise.resolve({ kind: 'hit', body: held.body, position: held.position });
    const variant = variantOf(opts);
    if (opts.token !== null || !this.isLive()) {
      this.opts.onLookup?.('bypass');
      return this.fetch(userId, variant, opts, this.beginFlight(userId));
    }
    this.opts.onLookup?.('miss');
    const sharedKey = `${userId}\n${variant}`;
    const pending = this.shared.get(sharedKey);
    if (pending && !pending.flight.stale) return pending.read;
    const flight = this.beginFlight(userId);
    const read = this.fetch(userId, variant, opts, flight).finally(() => {
      if (this.shared.get(sharedKey)?.read === read) this.shared.delete(sharedKey);
    });
    this.shared.set(sharedKey, { read, flight });
    return read;
  }

  /** InvalidationListener: changed keys reported by Redis. */
  keys(changed: Buffer[]): void {
    for (const raw of changed) {
      const key = raw.toString();
      const userId = this.layout.userOf(key);
      if (userId === null) {
        // The catalog names or the ready marker: every page may be affected.
        this.flush('redis_flush');
        return;
      }
      this.dropUser(userId);
      const flight = this.flights.get(userId);
      if (flight) flight.stale = true;
      this.opts.onInvalidate?.('user');
    }
  }

  /** InvalidationListener: forget everything (a flush in Redis, or the feed changed state). */
  flush(_reason?: string): void {
    this.users.clear();
    this.totalBytes = 0;
    for (const flight of this.flights.values()) flight.stale = true;
    this.opts.onInvalidate?.('all');
  }

  private lookup(userId: string, variant: string): Entry | undefined {
    const pages = this.users.get(userId);
    const entry = pages?.get(variant);
    if (!pages || !entry) return undefined;
    if (this.now() - entry.at > this.opts.maxAgeMs) {
      pages.delete(variant);
      this.totalBytes -= entry.bytes;
      return undefined;
    }
    // Recency: move the user to the end of the map.
    this.users.delete(userId);
    this.users.set(userId, pages);
    return entry;
  }

  private beginFlight(userId: string): Flight {
    let flight = this.flights.get(userId);
    if (!flight || flight.stale) {
      // A stale flight stays with the reads that saw it; new reads start clean.
      flight = { stale: false, refs: 0 };
      this.flights.set(userId, flight);
    }
    flight.refs++;
    return flight;
  }

  private async fetch(
    userId: string,
    variant: string,
    opts: ReadOptions,
    flight: Flight,
  ): Promise<RenderedRead> {
    try {
      const read = await this.inner.read(userId, opts);
      if (read.kind === 'hit' && !flight.stale && this.isLive()) {
        const body = typeof read.body === 'string' ? Buffer.from(read.body) : read.body;
        this.store(userId, variant, body, read.position ?? null);
      }
      return read;
    } finally {
      if (--flight.refs === 0 && this.flights.get(userId) === flight) this.flights.delete(userId);
    }
  }

  private store(userId: string, variant: string, body: Buffer, position: string | null): void {
    const bytes = body.length + variant.length * 2 + (position?.length ?? 0) * 2 + ENTRY_OVERHEAD;
    if (bytes > this.opts.maxBytes) return;
    let pages = this.users.get(userId);
    if (!pages) {
      pages = new Map();
      this.users.set(userId, pages);
      this.totalBytes += USER_OVERHEAD + userId.length * 2;
    }
    const old = pages.get(variant);
    if (old) this.totalBytes -= old.bytes;
    pages.set(variant, { body, position, at: this.now(), bytes });
    this.totalBytes += bytes;
    this.evict();
  }

  private evict(): void {
    for (const [userId] of this.users) {
      if (this.totalBytes <= this.opts.maxBytes) return;
      this.dropUser(userId);
    }
  }

  private dropUser(userId: string): void {
    const pages = this.users.get(userId);
    if (!pages) return;
    this.users.delete(userId);
    this.totalBytes -= USER_OVERHEAD + userId.length * 2;
    for (const entry of pages.values()) this.totalBytes -= entry.bytes;
  }
}

function variantOf(opts: ReadOptions): string {
  return `${opts.limit}|${opts.cursor ?? ''}`;
}
