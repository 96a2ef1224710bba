import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisInvalidationFeed } from '../../runtime/api/package/invalidation-feed.ts';
import { NearCachedPackageReader, type NearCacheLookup } from '../../runtime/api/package/near-cache.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import type { ReadOptions, RenderedRead } from '../../runtime/core/cache/types.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { redisOptions } from '../../runtime/core/redis/connect.ts';
import { at, payment, pkg, purchase, upsert, v } from '../support/cache-rows.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

/*
 * The near cache against the real Redis: invalidations come from Redis itself (CLIENT TRACKING in
 * broadcasting mode) whoever writes, so a page changed by the consumer's apply script, a catalog rename
 * or a lost ready marker is never served from memory afterwards; a killed feed connection turns the
 * near cache off until the feed is back; and under concurrent writes and reads no stale page survives.
 */
const url = requireEnv('REDIS_URL');
const redis = new Redis(url);
const prefix = `nearcache:${uniqueSuffix()}`;
const keys = cacheKeys(prefix);
const writer = new CacheWriter(redis, prefix);
const readerRedis = new Redis(url, { enableAutoPipelining: true });
const direct = new RedisPurchasePackageReader(readerRedis, prefix);
const lookups: NearCacheLookup[] = [];
let feed: RedisInvalidationFeed;
const near = new NearCachedPackageReader(direct, () => feed.healthy, prefix, {
  maxBytes: 8 * 1024 * 1024,
  maxAgeMs: 60_000,
  onLookup: (r) => lookups.push(r),
});
feed = new RedisInvalidationFeed(redisOptions({ redisUrl: url }), near, {
  prefixes: NearCachedPackageReader.watchedPrefixes(prefix),
});

const first: ReadOptions = { limit: 20, cursor: null, token: null };
const text = (r: RenderedRead) => (r.kind === 'hit' ? r.body.toString() : r.kind);
const nearPage = async (user: string) => text(await near.read(user, first));
const redisPage = async (user: string) => text(await direct.read(user, first));

let seq = 100;
const next = () => v(++seq);

beforeAll(async () => {
  await writer.load();
  await direct.load();
  await writer.apply([upsert('packages', pkg('pkg_a', 'Alpha'), next())]);
  await writer.markReady(null);
  await feed.start();
});

afterAll(async () => {
  await feed.stop();
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  readerRedis.disconnect();
});

describe('near cache on the real Redis', () => {
  it('serves a repeated read from memory and sees a change the moment Redis reports it', async () => {
    await writer.apply([
      upsert('purchases', purchase('pur_n1', 'u_near', at(1)), next()),
      upsert('payments', payment('pay_n1', 'pur_n1', 'u_near', 'pending'), next()),
    ]);
    // The writes' own invalidations reach the feed asynchronously and may evict the page just stored
    // (a change Redis reported after the read): a repeated read is a hit once they have all arrived.
    let before = '';
    let firstLookup: string | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      lookups.length = 0;
      before = await nearPage('u_near');
      expect(before).toContain('"status":"pending"');
      expect(await nearPage('u_near')).toBe(before);
      firstLookup ??= lookups[0];
      if (lookups[1] === 'hit') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(firstLookup).toBe('miss');
    expect(lookups[1]).toBe('hit');

    await writer.apply([upsert('payments', payment('pay_n1', 'pur_n1', 'u_near', 'succeeded'), next())]);
    await waitFor(
      'the near cache to agree',
      async () => (await nearPage('u_near')).includes('"status":"succeeded"'),
      1000,
    );
    expect(await nearPage('u_near')).toBe(await redisPage('u_near'));
  });

  it('drops every page on a catalog rename and when the ready marker goes', async () => {
    await nearPage('u_near');
    await writer.apply([upsert('packages', pkg('pkg_a', 'Alpha Renamed'), next())]);
    await waitFor(
      'the near cache to agree',
      async () => (await nearPage('u_near')).includes('Alpha Renamed'),
      1000,
    );

    await nearPage('u_near');
    await redis.del(keys.readyFor('u_near'));
    await waitFor('the near cache to agree', async () => (await nearPage('u_near')) === 'miss', 1000);
    await writer.markReady(null);
    await waitFor(
      'the near cache to agree',
      async () => (await nearPage('u_near')).includes('Alpha Renamed'),
      1000,
    );
  });

  it('turns itself off while its connection is gone and misses nothing meanwhile', async () => {
    const id = feed.clientId;
    expect(id).not.toBeNull();
    await nearPage('u_near');
    await redis.client('KILL', 'ID', String(id));
    await waitFor('the near cache to agree', async () => !feed.healthy, 1000);
    // A change while the feed is down: no invalidation can arrive for it.
    await writer.apply([upsert('payments', payment('pay_n1', 'pur_n1', 'u_near', 'refunded'), next())]);
    lookups.length = 0;
    expect(await nearPage('u_near')).toContain('"status":"refunded"');
    expect(lookups).toEqual(['bypass']);
    await waitFor('the near cache to agree', async () => feed.healthy, 5000);
    expect(feed.clientId).not.toBe(id);
    lookups.length = 0;
    expect(await nearPage('u_near')).toContain('"status":"refunded"');
    expect(await nearPage('u_near')).toContain('"status":"refunded"');
    expect(lookups).toEqual(['miss', 'hit']);
  });

  it('keeps no stale page under concurrent writes and reads', async () => {
    const users = Array.from({ length: 8 }, (_, i) => `u_race${i}`);
    for (const [i, user] of users.entries()) {
      await writer.apply([
        upsert('purchases', purchase(`pur_r${i}`, user, at(2)), next()),
        upsert('payments', payment(`pay_r${i}`, `pur_r${i}`, user, 'pending'), next()),
      ]);
    }
    const statuses = ['pending', 'processing', 'succeeded', 'failed', 'refunded'];
    let writing = true;
    let writes = 0;
    const writerRedis = new Redis(url);
    const raceWriter = new CacheWriter(writerRedis, prefix);
    const writerLoop = (async () => {
      while (writing) {
        const i = Math.floor(Math.random() * users.length);
        const status = statuses[Math.floor(Math.random() * statuses.length)] ?? 'pending';
        await raceWriter.apply([
          upsert('payments', payment(`pay_r${i}`, `pur_r${i}`, `u_race${i}`, status), next()),
        ]);
        writes++;
      }
    })();
    let reads = 0;
    const readers = Array.from({ length: 32 }, async () => {
      while (writing) {
        await nearPage(users[Math.floor(Math.random() * users.length)] ?? 'u_race0');
        reads++;
        // Memory hits settle without I/O: yield so timers (and the writer) get their turns.
        await new Promise((r) => setImmediate(r));
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    writing = false;
    await writerLoop;
    await Promise.all(readers);
    writerRedis.disconnect();
    expect(writes).toBeGreaterThan(100);
    expect(reads).toBeGreaterThan(1000);
    // Invalidations of the last writes are in flight for at most a moment.
    await waitFor(
      'the near cache to agree',
      async () => {
        for (const user of users) if ((await nearPage(user)) !== (await redisPage(user))) return false;
        return true;
      },
      1000,
    );
    // And they stay equal: nothing stale was kept that a later read would find.
    await new Promise((r) => setTimeout(r, 100));
    for (const user of users) expect(await nearPage(user)).toBe(await redisPage(user));
  });
});
