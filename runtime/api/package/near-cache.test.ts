import { describe, expect, it } from 'vitest';
import { cacheKeys } from '../../core/cache/keys.ts';
import type { PurchasePackageReader, ReadOptions, RenderedRead } from '../../core/cache/types.ts';
import { decodeToken, encodeToken } from '../../core/position.ts';
import { NearCachedPackageReader, type NearCacheLookup } from './near-cache.ts';

const PREFIX = 'nc';
const keys = cacheKeys(PREFIX);
const first: ReadOptions = { limit: 20, cursor: null, token: null };

/** A Redis reader double: answers `pages[user]` (or miss), counts calls, and can hold replies. */
function fakeRedis() {
  const pages = new Map<string, string>();
  let calls = 0;
  let held: Array<() => void> | null = null;
  const reader: PurchasePackageReader = {
    peek: () => undefined,
    async read(userId: string): Promise<RenderedRead> {
      calls++;
      // The answer is what Redis holds when the call executes, delivered possibly later.
      const body = pages.get(userId);
      const answer: RenderedRead =
        body === undefined ? { kind: 'miss' } : { kind: 'hit', body: Buffer.from(body) };
      if (held) await new Promise<void>((resolve) => held?.push(resolve));
      return answer;
    },
  };
  return {
    reader,
    pages,
    calls: () => calls,
    hold: () => {
      held = [];
    },
    release: () => {
      const waiting = held ?? [];
      held = null;
      for (const resolve of waiting) resolve();
    },
  };
}

function setUp(
  opts: { live?: () => boolean; maxBytes?: number; maxAgeMs?: number; now?: () => number } = {},
) {
  const redis = fakeRedis();
  const lookups: NearCacheLookup[] = [];
  const cache = new NearCachedPackageReader(redis.reader, opts.live ?? (() => true), PREFIX, {
    maxBytes: opts.maxBytes ?? 1_000_000,
    maxAgeMs: opts.maxAgeMs ?? 60_000,
    ...(opts.now ? { now: opts.now } : {}),
    onLookup: (r) => lookups.push(r),
  });
  const body = async (user: string, o: ReadOptions = first) => {
    const r = await cache.read(user, o);
    return r.kind === 'hit' ? r.body.toString() : r.kind;
  };
  return { redis, cache, lookups, body };
}

const changed = (...ks: string[]) => ks.map((k) => Buffer.from(k));

describe('near cache', () => {
  it('answers a repeated read from memory and reads Redis again after the user changed', async () => {
    const { redis, cache, lookups, body } = setUp();
    redis.pages.set('alice', 'v1');
    expect(await body('alice')).toBe('v1');
    expect(await body('alice')).toBe('v1');
    expect(redis.calls()).toBe(1);
    redis.pages.set('alice', 'v2');
    cache.keys(changed(keys.userEntries('alice')));
    expect(await body('alice')).toBe('v2');
    expect(redis.calls()).toBe(2);
    expect(lookups).toEqual(['miss', 'hit', 'miss']);
  });

  it("drops only the changed user's pages; the catalog or ready marker drops everything", async () => {
    const { redis, cache, body } = setUp();
    redis.pages.set('alice', 'a');
    redis.pages.set('bob', 'b');
    await body('alice');
    await body('bob');
    cache.keys(changed(keys.userPurchases('bob')));
    await body('alice');
    await body('bob');
    expect(redis.calls()).toBe(3);
    cache.keys(changed(keys.catalogNames));
    await body('alice');
    await body('bob');
    expect(redis.calls()).toBe(5);
    cache.keys(changed(keys.ready(0)));
    await body('alice');
    expect(redis.calls()).toBe(6);
    cache.flush('redis_flush');
    await body('alice');
    expect(redis.calls()).toBe(7);
  });

  it('keeps pages per page size and cursor', async () => {
    const { redis, body } = setUp();
    redis.pages.set('alice', 'p');
    await body('alice', { limit: 20, cursor: null, token: null });
    await body('alice', { limit: 5, cursor: null, token: null });
    await body('alice', { limit: 5, cursor: 'c1', token: null });
    await body('alice', { limit: 5, cursor: 'c1', token: null });
    expect(redis.calls()).toBe(3);
  });

  it('does not keep a page read while a change to its user was reported', async () => {
    const { redis, cache, body } = setUp();
    redis.pages.set('alice', 'old');
    redis.hold();
    const racing = body('alice');
    // The write lands and its invalidation arrives before the (older) answer does.
    redis.pages.set('alice', 'new');
    cache.keys(changed(keys.userEntries('alice')));
    redis.release();
    expect(await racing).toBe('old');
    expect(await body('alice')).toBe('new');
  });

  it('does not keep a page read across a flush or while the feed is down', async () => {
    let live = true;
    const { redis, cache, lookups, body } = setUp({ live: () => live });
    redis.pages.set('alice', 'old');
    redis.hold();
    const racing = body('alice');
    redis.pages.set('alice', 'new');
    cache.flush('feed_down');
    redis.release();
    expect(await racing).toBe('old');
    live = false;
    expect(await body('alice')).toBe('new');
    expect(await body('alice')).toBe('new');
    expect(redis.calls()).toBe(3);
    expect(lookups.slice(-2)).toEqual(['bypass', 'bypass']);
    live = true;
    await body('alice');
    await body('alice');
    expect(redis.calls()).toBe(4);
  });

  it('shares one Redis call between identical reads, but not with reads after a change', async () => {
    const { redis, cache, body } = setUp();
    redis.pages.set('alice', 'old');
    redis.hold();
    const a = body('alice');
    const b = body('alice');
    redis.pages.set('alice', 'new');
    cache.keys(changed(keys.userEntries('alice')));
    const c = body('alice');
    redis.release();
    expect([await a, await b]).toEqual(['old', 'old']);
    expect(await c).toBe('new');
    expect(redis.calls()).toBe(2);
    // c's answer was read after the change and is kept.
    expect(await body('alice')).toBe('new');
    expect(redis.calls()).toBe(2);
  });

  it('sends reads with a consistency token to Redis', async () => {
    const { redis, lookups, body } = setUp();
    redis.pages.set('alice', 'p');
    const token = decodeToken(encodeToken({ gtid: '0-1-42', rows: ['purchases:pur_1'] }));
    expect(token).not.toBeNull();
    await body('alice');
    await body('alice', { ...first, token });
    expect(redis.calls()).toBe(2);
    expect(lookups).toEqual(['miss', 'bypass']);
  });

  it('answers a held page synchronously to peek, and nothing it must not answer', async () => {
    let live = true;
    const { redis, cache, lookups, body } = setUp({ live: () => live });
    redis.pages.set('alice', 'p');
    expect(cache.peek('alice', first)).toBeUndefined();
    await body('alice');
    expect(cache.peek('alice', first)?.body.toString()).toBe('p');
    expect(cache.peek('alice', { ...first, limit: 5 })).toBeUndefined();
    const token = decodeToken(encodeToken({ gtid: '0-1-42', rows: [] }));
    expect(cache.peek('alice', { ...first, token })).toBeUndefined();
    live = false;
    expect(cache.peek('alice', first)).toBeUndefined();
    live = true;
    cache.keys(changed(keys.userEntries('alice')));
    expect(cache.peek('alice', first)).toBeUndefined();
    expect(lookups).toEqual(['miss', 'hit']);
  });

  it('never keeps a miss', async () => {
    const { redis, body } = setUp();
    expect(await body('nobody')).toBe('miss');
    expect(await body('nobody')).toBe('miss');
    expect(redis.calls()).toBe(2);
  });

  it('evicts the least recently used users beyond its byte bound', async () => {
    const { redis, cache, body } = setUp({ maxBytes: 1000 });
    for (const u of ['u1', 'u2', 'u3', 'u4']) redis.pages.set(u, 'x'.repeat(200));
    await body('u1');
    await body('u2');
    await body('u3');
    await body('u1'); // u1 is now the most recent
    await body('u4'); // over the bound: u2 goes
    expect(cache.bytes).toBeLessThanOrEqual(1000);
    const before = redis.calls();
    await body('u1');
    await body('u4');
    expect(redis.calls()).toBe(before);
    await body('u2');
    expect(redis.calls()).toBe(before + 1);
  });

  it('reads a page again once it is older than the safety max age', async () => {
    let t = 0;
    const { redis, body } = setUp({ maxAgeMs: 1000, now: () => t });
    redis.pages.set('alice', 'p');
    await body('alice');
    t = 1000;
    await body('alice');
    expect(redis.calls()).toBe(1);
    t = 1001;
    await body('alice');
    expect(redis.calls()).toBe(2);
  });

  it('refuses a useless configuration', () => {
    const { reader } = fakeRedis();
    expect(
      () => new NearCachedPackageReader(reader, () => true, PREFIX, { maxBytes: 0, maxAgeMs: 1 }),
    ).toThrow(RangeError);
  });
});

describe('cache key layout', () => {
  it('finds the user of per-user keys only', () => {
    expect(keys.userOf(keys.userEntries('alice'))).toBe('alice');
    expect(keys.userOf(keys.userPurchases('a}:b'))).toBe('a}:b');
    expect(keys.userOf(keys.catalogNames)).toBeNull();
    expect(keys.userOf(keys.userRow('alice', 'purchases', 'pur_1'))).toBe('alice');
    expect(keys.userOf(keys.packageRow('pkg_1'))).toBeNull();
    expect(keys.userOf(keys.ready(7))).toBeNull();
    expect(keys.userOf(`${PREFIX}x:{u:alice}:entries`)).toBeNull();
  });
});
