import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { raiseAppliedPosition } from '../../runtime/core/cache/applied-position.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { currentSourceGtid } from '../../runtime/core/db/source-gtid.ts';
import { gtidSequence, versionOf } from '../../runtime/core/position.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

/*
 * Staleness on every read: the purchase package carries `X-Package-Position`, the source position the
 * page holds at least, on the MySQL fallback, the Redis path and the near-cache path (real api,
 * MariaDB and Redis).
 */
let plain: ApiHarness;
let near: ApiHarness;
const userId = `pp_${uniqueSuffix()}`;
let token: string;

beforeAll(async () => {
  [plain, near] = await Promise.all([startApi(), startApi({}, { nearCache: true })]);
  token = await mintToken(userId);
});
afterAll(async () => {
  await Promise.all([plain?.close(), near?.close()]);
});

async function buy(h: ApiHarness) {
  const res = await call(h.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: 'pkg_plus' },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
  });
  expect(res.status).toBe(201);
}

async function read(h: ApiHarness) {
  const res = await call(h.url, 'GET', `/v1/users/${userId}/purchases`, { token });
  expect(res.status).toBe(200);
  return { source: res.headers.get('x-package-source'), position: res.headers.get('x-package-position') };
}

const seqOf = (gtid: string | null) => gtidSequence(gtid ?? '');

async function rebuild(h: ApiHarness) {
  return rebuildCache({
    pool: h.db.admin,
    redis: h.redis,
    writer: new CacheWriter(h.redis, h.prefix),
    prefix: h.prefix,
    progress: silentProgress,
  });
}

async function nearHits(h: ApiHarness): Promise<number> {
  const text = await h.registry.metrics();
  return Number(/api_package_near_cache_lookups_total\{result="hit"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('X-Package-Position', () => {
  it("names MySQL's committed position on the fallback, read before the page", async () => {
    await buy(plain);
    const committed = await currentSourceGtid(plain.db.admin);
    const { source, position } = await read(plain);
    const after = await currentSourceGtid(plain.db.admin);
    expect(source).toBe('mysql_miss');
    expect(seqOf(position)).toBeGreaterThanOrEqual(seqOf(committed));
    expect(seqOf(position)).toBeLessThanOrEqual(seqOf(after));
  });

  it("names Redis's applied position on the Redis path: the rebuild's snapshot, then what the consumer applied", async () => {
    const rebuilt = await rebuild(plain);
    expect(await read(plain)).toEqual({ source: 'redis', position: rebuilt.gtid });
    // The consumer raises it after each batch; an older position never lowers it.
    const next = `0-1-${seqOf(rebuilt.gtid) + 1_000_000n}`;
    await raiseAppliedPosition(plain.redis, plain.prefix, versionOf(seqOf(next), 0), next);
    await raiseAppliedPosition(plain.redis, plain.prefix, versionOf(1n, 0), '0-1-1');
    expect(await read(plain)).toEqual({ source: 'redis', position: next });
  });

  it('keeps the position a held page was read at on the near-cache path, until the page is dropped', async () => {
    await buy(near);
    const rebuilt = await rebuild(near);
    expect(await read(near)).toEqual({ source: 'redis', position: rebuilt.gtid });
    const hits = await nearHits(near);
    expect(await read(near)).toEqual({ source: 'redis', position: rebuilt.gtid });
    expect(await nearHits(near)).toBe(hits + 1);

    // Other users' changes raise the position without touching this page: it still names its own.
    const later = `0-1-${seqOf(rebuilt.gtid) + 1_000_000n}`;
    await raiseAppliedPosition(near.redis, near.prefix, versionOf(seqOf(later), 0), later);
    expect(await read(near)).toEqual({ source: 'redis', position: rebuilt.gtid });
    expect(await nearHits(near)).toBe(hits + 2);

    // A change to the user drops the page; the next read takes the current position.
    await near.redis.hset(cacheKeys(near.prefix).userEntries(userId), 'touch', 'x');
    await near.redis.hdel(cacheKeys(near.prefix).userEntries(userId), 'touch');
    await expect
      .poll(async () => (await read(near)).position, { timeout: 10_000, interval: 100 })
      .toBe(later);
  });
});
