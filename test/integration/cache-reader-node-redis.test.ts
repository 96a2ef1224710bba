import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageFromMysql } from '../../runtime/api/package/mysql-reader.ts';
import { createRateLimiter } from '../../runtime/api/rate-limit.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { decodeCursor } from '../../runtime/core/cache/cursor.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import type { ReadOptions, RenderedRead } from '../../runtime/core/cache/types.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteRedisKeys } from '../support/redis.ts';

/*
 * The package reader on node-redis (as the api runs it) against the real MariaDB and Redis: the same
 * bytes as on ioredis and as the MySQL fallback, miss/behind/hit alike, concurrent reads of different
 * users in one tick (one pipelined write) each answered with their own page, the rate limit sharing
 * the connection in the same tick, and the script reloaded after Redis lost it.
 */
let db: TestDatabase;
let pool: Pool;
const redis = new Redis(requireEnv('REDIS_URL'));
const client = createClient({ url: requireEnv('REDIS_URL'), disableOfflineQueue: true });
const prefix = `cachenoderedis:${uniqueSuffix()}`;
const viaIoredis = new RedisPurchasePackageReader(redis, prefix);
const viaNodeRedis = new RedisPurchasePackageReader(client, prefix);

const body = (r: RenderedRead): string => {
  if (r.kind !== 'hit') throw new Error(`expected a hit, got ${r.kind}`);
  return r.body.toString();
};

async function insertPurchase(id: string, user: string, pkg: string, confirmed: boolean, sec: number) {
  const at = `2026-11-25 10:00:${String(10 + (sec % 3)).padStart(2, '0')}.000001`;
  await pool.query(
    'INSERT INTO purchases (id, user_id, package_id, amount, currency, created_at, updated_at) SELECT ?, ?, id, price_amount, currency, ?, ? FROM packages WHERE id = ?',
    [id, user, at, at, pkg],
  );
  await pool.query(
    "INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider) SELECT ?, id, user_id, amount, currency, ?, 'test' FROM purchases WHERE id = ?",
    [`pay_${id}`, confirmed ? 'succeeded' : 'pending', id],
  );
}

beforeAll(async () => {
  await client.connect();
  db = await createTestDatabase();
  pool = createPool(db.appUrl, { connectionLimit: 3 });
  for (let i = 0; i < 12; i++) {
    const pkg = ['pkg_starter', 'pkg_plus', 'pkg_pro', 'pkg_yen'][i % 4] ?? 'pkg_plus';
    await insertPurchase(`pur_${String(i).padStart(2, '0')}`, 'u_n', pkg, i % 2 === 0, i);
  }
  for (let i = 0; i < 3; i++) await insertPurchase(`pur_o${i}`, 'u_o', 'pkg_pro', true, i);
  const writer = new CacheWriter(redis, prefix);
  await rebuildCache({ pool, redis, writer, prefix, progress: silentProgress });
});

afterAll(async () => {
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  if (client.isOpen) await client.close();
  await pool?.end();
  await db?.drop();
});

describe('package reader on node-redis', () => {
  it('answers every page byte for byte like the ioredis reader and the MySQL fallback', async () => {
    for (const limit of [1, 5, 12, 100]) {
      let cursor: string | null = null;
      let pages = 0;
      do {
        const opts: ReadOptions = { limit, cursor, token: null };
        const fromNodeRedis = body(await viaNodeRedis.readRendered('u_n', opts));
        expect(fromNodeRedis).toBe(body(await viaIoredis.readRendered('u_n', opts)));
        const fromMysql = JSON.stringify(
          await readPackageFromMysql(pool, 'u_n', limit, cursor === null ? null : decodeCursor(cursor)),
        );
        expect(fromNodeRedis).toBe(fromMysql);
        cursor = (JSON.parse(fromNodeRedis) as { next_cursor: string | null }).next_cursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(Math.ceil(12 / limit));
    }
  });

  it('answers miss and behind like the ioredis reader', async () => {
    const fresh = new RedisPurchasePackageReader(client, `${prefix}:fresh`);
    expect(await fresh.readRendered('u_n', { limit: 5, cursor: null, token: null })).toEqual({
      kind: 'miss',
    });
    const rows = ['purchases:pur_00', 'payments:pay_pur_00'];
    for (const [gtid, kind] of [
      ['0-1-1', 'hit'],
      ['0-1-999999999999', 'behind'],
    ] as const) {
      const opts: ReadOptions = { limit: 5, cursor: null, token: { gtid, rows } };
      expect((await viaIoredis.readRendered('u_n', opts)).kind).toBe(kind);
      expect((await viaNodeRedis.readRendered('u_n', opts)).kind).toBe(kind);
    }
  });

  it('answers each of many reads sent in the same tick with its own page', async () => {
    const asks = Array.from({ length: 40 }, (_, i) => ({
      user: i % 2 === 0 ? 'u_n' : 'u_o',
      opts: { limit: 1 + (i % 12), cursor: null, token: null },
    }));
    const together = await Promise.all(asks.map((a) => viaNodeRedis.readRendered(a.user, a.opts)));
    for (const [i, a] of asks.entries()) {
      const alone = await viaIoredis.readRendered(a.user, a.opts);
      expect(body(together[i] as RenderedRead)).toBe(body(alone));
    }
  });

  it('counts the rate limit on the same connection, in the same tick as the read', async () => {
    const limit = createRateLimiter(client, prefix, { perUserPerMinute: 2, perIpPerMinute: 100 });
    const opts: ReadOptions = { limit: 2, cursor: null, token: null };
    const answers = await Promise.all([
      limit('u_n', '10.0.0.1'),
      viaNodeRedis.readRendered('u_n', opts),
      limit('u_n', '10.0.0.1'),
      limit('u_n', '10.0.0.1'),
    ]);
    expect(answers[0]).toEqual({ allowed: true });
    expect(body(answers[1] as RenderedRead)).toBe(body(await viaIoredis.readRendered('u_n', opts)));
    expect(answers[2]).toEqual({ allowed: true });
    expect(answers[3]).toMatchObject({ allowed: false, scope: 'user' });
  });

  it('reloads the script when Redis lost it', async () => {
    await redis.script('FLUSH');
    const opts: ReadOptions = { limit: 3, cursor: null, token: null };
    expect(body(await viaNodeRedis.readRendered('u_o', opts))).toBe(
      body(await viaIoredis.readRendered('u_o', opts)),
    );
  });
});
