import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchaseResponse, packagePageSchema } from '../../runtime/api/schemas.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

/*
 * The purchase-package route with the near cache on, as main.ts runs it: a page held in memory is
 * still refused to other users, to bad queries and to a caller past the rate limit; it follows
 * changes applied to Redis; a consistency token still goes to Redis (or MySQL).
 */
let api: ApiHarness;
let limited: ApiHarness;
const userId = `pn_${uniqueSuffix()}`;
let token: string;

beforeAll(async () => {
  [api, limited] = await Promise.all([
    startApi({}, { nearCache: true }),
    startApi({ rateLimitUserPerMinute: 3, rateLimitIpPerMinute: 1000 }, { nearCache: true }),
  ]);
  token = await mintToken(userId);
});
afterAll(async () => {
  await Promise.all([api?.close(), limited?.close()]);
});

async function materialise(h: ApiHarness) {
  await rebuildCache({
    pool: h.db.admin,
    redis: h.redis,
    writer: new CacheWriter(h.redis, h.prefix),
    prefix: h.prefix,
    progress: silentProgress,
  });
}

async function buy(h: ApiHarness) {
  const res = await call(h.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: 'pkg_plus' },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body);
}

const list = (h: ApiHarness, query = '', as = token) =>
  call(h.url, 'GET', `/v1/users/${userId}/purchases${query}`, { token: as });

async function nearHits(h: ApiHarness): Promise<number> {
  const text = await h.registry.metrics();
  return Number(/api_package_near_cache_lookups_total\{result="hit"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('purchase package route with the near cache', () => {
  it('serves repeated reads from memory, the same bytes Redis answered', async () => {
    await buy(api);
    await materialise(api);
    const first = await list(api);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-package-source')).toBe('redis');
    const hits = await nearHits(api);
    const again = await list(api);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('x-package-source')).toBe('redis');
    expect(await nearHits(api)).toBe(hits + 1);
  });

  it("refuses another user's page and bad queries even while the page is held", async () => {
    await list(api);
    const other = await list(api, '', await mintToken(`other_${uniqueSuffix()}`));
    expect(other.status).toBe(404);
    expect((await list(api, '?limit=0')).status).toBe(400);
    expect((await list(api, '?cursor=%%%')).status).toBe(400);
    expect((await list(api, '?unknown=1')).status).toBe(400);
    const admin = await list(api, '', await mintToken('ops', { scope: 'admin' }));
    expect(admin.status).toBe(200);
  });

  it('follows a change applied to Redis', async () => {
    const bought = await buy(api);
    await list(api);
    // The consumer's rebuild rewrites the user's keys: Redis reports them, the held page goes.
    await materialise(api);
    const deadline = Date.now() + 2000;
    let page = packagePageSchema.parse((await list(api)).body);
    while (!page.items.some((i) => i.purchase_id === bought.purchase.id) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      page = packagePageSchema.parse((await list(api)).body);
    }
    expect(page.items.map((i) => i.purchase_id)).toContain(bought.purchase.id);
  });

  it('sends a read with a consistency token past the near cache', async () => {
    const bought = await buy(api);
    await list(api);
    const hits = await nearHits(api);
    const res = await list(api, '', token);
    expect(await nearHits(api)).toBe(hits + 1);
    expect(bought.consistency_token).toBeTypeOf('string');
    const withToken = await call(api.url, 'GET', `/v1/users/${userId}/purchases`, {
      token,
      headers: { 'x-consistency-token': bought.consistency_token ?? '' },
    });
    expect(withToken.status).toBe(200);
    // Redis has not seen this purchase: MySQL answers, with it.
    expect(withToken.headers.get('x-package-source')).toBe('mysql_behind');
    expect(packagePageSchema.parse(withToken.body).items.map((i) => i.purchase_id)).toContain(
      bought.purchase.id,
    );
    expect(await nearHits(api)).toBe(hits + 1);
    expect(res.status).toBe(200);
  });

  it('answers 429 past the limit even though the page is held', async () => {
    await materialise(limited);
    // The limit counts per clock minute: do not start right before a minute ends.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 57_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await list(limited)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('answers 429, not 400 or 404, when the limiter refuses after a lease (the answer waits for it)', async () => {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 57_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    // A limit of 3 leases one token per request: every admission here waits for Redis.
    const other = await mintToken(`pn_other_${uniqueSuffix()}`);
    const path = `/v1/users/${userId}/purchases?limit=0`;
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await call(limited.url, 'GET', path, { token: other })).status);
    // Another user's page with a bad query: 404 while admitted, then the limiter's 429.
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
  });
});
