import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageFromMysql } from '../../runtime/api/package/mysql-reader.ts';
import { createPurchaseResponse, packagePageSchema } from '../../runtime/api/schemas.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { type ApiHarness, call, countKeys, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// The purchase package read path against real Redis, populated by the consumer's own writer
// (rebuild from MySQL), and the MySQL fallback for miss and behind.

let api: ApiHarness;
let token: string;
const userId = `pk_${uniqueSuffix()}`;

beforeAll(async () => {
  api = await startApi();
  token = await mintToken(userId);
});
afterAll(async () => {
  await api?.close();
});

async function buy(packageId: string) {
  const res = await call(api.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: packageId },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}${Math.random().toString(36).slice(2)}` },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body);
}

async function list(query = '') {
  const res = await call(api.url, 'GET', `/v1/users/${userId}/purchases${query}`, { token });
  expect(res.status).toBe(200);
  return { source: res.headers.get('x-package-source'), page: packagePageSchema.parse(res.body) };
}

async function rebuild() {
  await rebuildCache({
    pool: api.db.admin,
    redis: api.redis,
    writer: new CacheWriter(api.redis, api.prefix),
    prefix: api.prefix,
    progress: silentProgress,
  });
}

async function allPages(limit: number) {
  const pages = [];
  let cursor: string | null = null;
  do {
    const q: string = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const { source, page } = await list(q);
    pages.push({ source, page });
    cursor = page.next_cursor;
  } while (cursor && pages.length < 20);
  return pages;
}

describe('purchase package read path', () => {
  it('answers from MySQL while Redis holds nothing, and never writes to Redis', async () => {
    await buy('pkg_starter');
    await buy('pkg_plus');
    const { source, page } = await list();
    expect(source).toBe('mysql_miss');
    expect(page.items.map((i) => i.package.id)).toEqual(['pkg_plus', 'pkg_starter']);
    expect(await countKeys(api.redis, `${api.prefix}:row`)).toBe(0);
    expect(await countKeys(api.redis, `${api.prefix}:{u`)).toBe(0);
  });

  it('answers from Redis once materialised, identical to MySQL, page by page with the shared cursor', async () => {
    await buy('pkg_pro');
    await buy('pkg_yen');
    await buy('pkg_plus');
    await rebuild();
    const fromRedis = await allPages(2);
    expect(fromRedis.every((p) => p.source === 'redis')).toBe(true);
    expect(fromRedis.map((p) => p.page.items.length)).toEqual([2, 2, 1]);

    // The same walk from MySQL gives the same entries and the same cursors.
    let cursor: string | null = null;
    for (const { page } of fromRedis) {
      const { decodeCursor } = await import('../../runtime/core/cache/cursor.ts');
      const mysqlPage = await readPackageFromMysql(api.pool, userId, 2, cursor ? decodeCursor(cursor) : null);
      expect(mysqlPage).toEqual(page);
      cursor = page.next_cursor;
    }
    const ids = fromRedis.flatMap((p) => p.page.items.map((i) => i.purchase_id));
    expect(new Set(ids).size).toBe(5);
    expect([...ids].sort().reverse()).toEqual(ids);
  });

  it('a consistency token Redis has not reached is answered from MySQL and includes the write', async () => {
    const created = await buy('pkg_pro');
    const keysBefore = await countKeys(api.redis, api.prefix);

    const stale = await list();
    expect(stale.source).toBe('redis');
    expect(stale.page.items.map((i) => i.purchase_id)).not.toContain(created.purchase.id);

    const fresh = await list(`?consistency_token=${created.consistency_token}`);
    expect(fresh.source).toBe('mysql_behind');
    expect(fresh.page.items[0]?.purchase_id).toBe(created.purchase.id);
    expect(fresh.page.items[0]?.payment).toEqual({ id: created.payment.id, status: 'pending' });
    // The fallback wrote nothing to Redis.
    expect(await countKeys(api.redis, api.prefix)).toBe(keysBefore);

    // Once Redis has caught up (the consumer's writer applied the commit), the same token reads from Redis.
    await rebuild();
    const header = await call(api.url, 'GET', `/v1/users/${userId}/purchases`, {
      token,
      headers: { 'x-consistency-token': created.consistency_token ?? '' },
    });
    expect(header.headers.get('x-package-source')).toBe('redis');
    expect(packagePageSchema.parse(header.body).items[0]?.purchase_id).toBe(created.purchase.id);
  });

  it('a confirm token waits for the payment row: behind until the change is in Redis', async () => {
    const created = await buy('pkg_starter');
    await rebuild();
    const confirmed = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/confirm`, {
      token,
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    const t = (confirmed.body as { consistency_token: string }).consistency_token;
    const behind = await list(`?consistency_token=${t}`);
    expect(behind.source).toBe('mysql_behind');
    expect(behind.page.items[0]).toMatchObject({ purchase_id: created.purchase.id, paid: true });
    await rebuild();
    const hit = await list(`?consistency_token=${t}`);
    expect(hit.source).toBe('redis');
    expect(hit.page.items[0]).toMatchObject({
      purchase_id: created.purchase.id,
      paid: true,
      payment: { status: 'succeeded' },
    });
  });

  it('counts where answers came from', async () => {
    const metrics = await call(api.opsUrl, 'GET', '/metrics');
    expect(metrics.text).toMatch(/api_package_reads_total\{source="redis"[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(/api_package_reads_total\{source="mysql_miss"[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(/api_package_reads_total\{source="mysql_behind"[^}]*\} [1-9]/);
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight requests, then refuses new connections', async () => {
    // The real Redis reader, slowed down so a request is provably in flight when close() starts.
    const slow = await startApi(
      {},
      {
        wrapReader: (reader) => ({
          peek: () => undefined,
          read: async (user, opts) => {
            await new Promise((r) => setTimeout(r, 400));
            return reader.read(user, opts);
          },
        }),
      },
    );
    const user = `sd_${uniqueSuffix()}`;
    const t = await mintToken(user);
    try {
      const inFlight = call(slow.url, 'GET', `/v1/users/${user}/purchases`, { token: t });
      await new Promise((r) => setTimeout(r, 100));
      const closing = slow.app.close();
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [], next_cursor: null });
      await closing;
      await expect(fetch(`${slow.url}/healthz`)).rejects.toThrow();
    } finally {
      await slow.close();
    }
  });
});
