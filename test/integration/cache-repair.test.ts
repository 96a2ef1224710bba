import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageFromMysql } from '../../runtime/api/package/mysql-reader.ts';
import { createPurchaseResponse } from '../../runtime/api/schemas.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { currentSourceGtid } from '../../runtime/core/db/source-gtid.ts';
import { gtidSequence, versionOf } from '../../runtime/core/position.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// Per-user repair (POST /v1/admin/users/{id}/repair and `make repair`'s repair-main.ts) against real
// MariaDB and Redis: one user's corrupted entries are rebuilt from MySQL, another user's stay byte for
// byte as they were, and a newer change from the stream survives the repair.

let api: ApiHarness;
let admin: string;
const suffix = uniqueSuffix();
const alice = `rep_a_${suffix}`;
const bob = `rep_b_${suffix}`;
const tokens: Record<string, string> = {};
let keys: ReturnType<typeof cacheKeys>;
let reader: RedisPurchasePackageReader;
const purchases: Record<string, string[]> = { [alice]: [], [bob]: [] };

async function buy(user: string, packageId: string) {
  const res = await call(api.url, 'POST', '/v1/purchases', {
    token: tokens[user] as string,
    body: { package_id: packageId },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}${Math.random().toString(36).slice(2)}` },
  });
  expect(res.status).toBe(201);
  const body = createPurchaseResponse.parse(res.body);
  purchases[user]?.push(body.purchase.id);
  return body;
}

/** Every key of the user's part of the cache with its full contents (index scores, hashes). */
async function dump(user: string) {
  const out: Record<string, unknown> = {
    index: await api.redis.zrange(keys.userPurchases(user), '0', '-1', 'WITHSCORES'),
    entries: await api.redis.hgetall(keys.userEntries(user)),
  };
  for (const id of purchases[user] ?? []) {
    const row = await api.redis.hgetall(keys.userRow(user, 'purchases', id));
    out[id] = row;
    if (row.pay) out[row.pay] = await api.redis.hgetall(keys.userRow(user, 'payments', row.pay));
  }
  return out;
}

const redisPage = async (user: string) => {
  const r = await readPage(reader, user, { limit: 100, cursor: null, token: null });
  return r.kind === 'hit' ? r.page : r.kind;
};

const repair = (user: string, token = admin) =>
  call(api.url, 'POST', `/v1/admin/users/${user}/repair`, { token });

beforeAll(async () => {
  api = await startApi();
  keys = cacheKeys(api.prefix);
  reader = new RedisPurchasePackageReader(api.redis, api.prefix);
  admin = await mintToken('ops', { scope: 'admin' });
  tokens[alice] = await mintToken(alice);
  tokens[bob] = await mintToken(bob);
  for (const pkg of ['pkg_starter', 'pkg_plus', 'pkg_pro']) await buy(alice, pkg);
  for (const pkg of ['pkg_plus', 'pkg_yen']) await buy(bob, pkg);
  await rebuildCache({
    pool: api.db.admin,
    redis: api.redis,
    writer: new CacheWriter(api.redis, api.prefix),
    prefix: api.prefix,
    progress: silentProgress,
  });
  expect(await verifyCache({ pool: api.db.admin, redis: api.redis, prefix: api.prefix })).toEqual([]);
});
afterAll(async () => {
  await api?.close();
});

describe('per-user repair', () => {
  it('needs the admin scope', async () => {
    const res = await repair(alice, tokens[alice]);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { type: 'permission_error', code: 'admin_scope_required' } });
    expect((await repair('not a user')).body).toMatchObject({ error: { code: 'user_id_invalid' } });
  });

  it("rebuilds one user's corrupted entries from MySQL and leaves another user's untouched", async () => {
    const [p1, p2, p3] = purchases[alice] as [string, string, string];
    const bobBefore = await dump(bob);
    // Corruption behind the consumer's back: a lost row, a stale one (older version), a lost entry,
    // a lost payment pointer and a purchase MySQL never had listed under the user.
    await api.redis.del(keys.userRow(alice, 'purchases', p1));
    const row2 = keys.userRow(alice, 'purchases', p2);
    const stale = { ...(JSON.parse((await api.redis.hget(row2, 'd')) ?? '{}') as object), amount: 1 };
    await api.redis.hset(row2, 'v', versionOf(1n, 0), 'd', JSON.stringify(stale));
    await api.redis.hdel(keys.userEntries(alice), p3);
    await api.redis.hdel(keys.userRow(alice, 'purchases', p3), 'pay', 'paye');
    const ghost = `pur_ghost_${suffix}`;
    await api.redis.zadd(keys.userPurchases(alice), 1, ghost);
    await api.redis.hset(keys.userEntries(alice), ghost, 'pkg_plus\x01{"purchase_id":"x"');
    const broken = await verifyCache({ pool: api.db.admin, redis: api.redis, prefix: api.prefix });
    expect(broken.length).toBeGreaterThan(0);

    const res = await repair(alice);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ repaired: { user: alice, rows: { purchases: 3, payments: 3 } } });

    expect(await redisPage(alice)).toEqual(await readPackageFromMysql(api.pool, alice, 100, null));
    expect(await verifyCache({ pool: api.db.admin, redis: api.redis, prefix: api.prefix })).toEqual([]);
    expect(await dump(bob)).toEqual(bobBefore);
  });

  it('never overwrites a newer change from the stream (version guard), also through repair-main', async () => {
    const p = (purchases[alice] as string[])[0] as string;
    const row = keys.userRow(alice, 'purchases', p);
    const current = JSON.parse((await api.redis.hget(row, 'd')) ?? '{}') as Record<string, unknown>;
    // A change committed after any snapshot the repair can take (its GTID is beyond the source's).
    const gtid = await currentSourceGtid(api.db.admin);
    const newer = versionOf(gtidSequence(gtid ?? '0-1-0') + 1_000_000n, 0);
    const newerRow = { ...current, amount: 4242 };
    const writer = new CacheWriter(api.redis, api.prefix);
    expect(
      await writer.apply([{ table: 'purchases', id: p, version: newer, after: newerRow, before: null }]),
    ).toEqual([true]);
    await api.redis.del(keys.userEntries(bob));

    const env = {
      ...process.env,
      MYSQL_URL: api.db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      TOPIC_PREFIX: api.prefix,
      REDIS_KEY_PREFIX: api.prefix,
      USER_ID: alice,
      LOG_LEVEL: 'warn',
    };
    const { stdout } = await promisify(execFile)(process.execPath, ['runtime/consumer/repair-main.ts'], {
      env,
    });
    expect(JSON.parse(stdout)).toMatchObject({ repaired: { user: alice } });
    expect(await api.redis.hmget(row, 'v', 'd')).toEqual([newer, JSON.stringify(newerRow)]);
    const page = await redisPage(alice);
    expect(typeof page === 'string' ? page : page.items.find((i) => i.purchase_id === p)?.amount).toBe(4242);

    // The admin call repairs bob from the same MySQL, leaving alice's newer row alone too.
    expect((await repair(bob)).status).toBe(200);
    expect(await redisPage(bob)).toEqual(await readPackageFromMysql(api.pool, bob, 100, null));
    expect(await api.redis.hget(row, 'v')).toBe(newer);
  });
});
