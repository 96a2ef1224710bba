import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlPackageReader } from '../../runtime/api/package/mysql-reader.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { canonicalRow } from '../../runtime/core/cache/rows.ts';
import type { RenderedRead } from '../../runtime/core/cache/types.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { versionOf } from '../../runtime/core/position.ts';
import { createLeanRedis } from '../../runtime/core/redis/connect.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteRedisKeys } from '../support/redis.ts';

/*
 * The pre-rendered package entries against the real MariaDB and Redis: the Redis page is byte for
 * byte the MySQL fallback's page, entries follow their rows (payment changes, renames, deletes), the
 * auto-pipelining client the api uses reads the same, and the checker catches every entry problem.
 */
let db: TestDatabase;
let pool: Pool;
const redis = new Redis(requireEnv('REDIS_URL'));
const pipelined = new Redis(requireEnv('REDIS_URL'), { enableAutoPipelining: true });
const prefix = `cacheentries:${uniqueSuffix()}`;
const keys = cacheKeys(prefix);
const writer = new CacheWriter(redis, prefix);
const reader = new RedisPurchasePackageReader(redis, prefix);

const created = (i: number) => `2026-11-25 10:00:${String(10 + (i % 3)).padStart(2, '0')}.000001`;

async function insertPurchase(id: string, user: string, pkg: string, status: string | null, at: string) {
  await pool.query(
    'INSERT INTO purchases (id, user_id, package_id, amount, currency, created_at, updated_at) SELECT ?, ?, id, price_amount, currency, ?, ? FROM packages WHERE id = ?',
    [id, user, at, at, pkg],
  );
  if (status) {
    await pool.query(
      "INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider) SELECT ?, id, user_id, amount, currency, ?, 'test' FROM purchases WHERE id = ?",
      [`pay_${id}`, status, id],
    );
  }
}

const body = (r: RenderedRead): string => {
  if (r.kind !== 'hit') throw new Error(`expected a hit, got ${r.kind}`);
  return r.body.toString();
};

/** Current MySQL row of a cached table, canonical, for writing a change through the writer. */
async function sourceRow(table: 'packages' | 'payments', id: string) {
  const [rows] = await pool.query({
    sql: `SELECT * FROM ${table} WHERE id = ?`,
    values: [id],
    dateStrings: true,
  });
  const row = (rows as Record<string, unknown>[])[0];
  if (!row) throw new Error(`${table} ${id} not found`);
  return canonicalRow(table, row);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.appUrl, { connectionLimit: 3 });
  const statuses = ['succeeded', 'pending', null, 'failed', 'refunded', 'processing'];
  for (let i = 0; i < 12; i++) {
    const pkg = ['pkg_starter', 'pkg_plus', 'pkg_pro', 'pkg_yen'][i % 4] ?? 'pkg_plus';
    await insertPurchase(
      `pur_${String(i).padStart(2, '0')}`,
      'u_e',
      pkg,
      statuses[i % 6] ?? null,
      created(i),
    );
  }
  await insertPurchase('pur_other', 'u_other', 'pkg_plus', 'succeeded', created(0));
  await rebuildCache({ pool, redis, writer, prefix, progress: silentProgress });
});

afterAll(async () => {
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  pipelined.disconnect();
  await pool?.end();
  await db?.drop();
});

describe('pre-rendered package entries', () => {
  it('answers every page byte for byte like the MySQL fallback, ties and cursors included', async () => {
    const mysql = new MysqlPackageReader(pool);
    const lean = createLeanRedis({ redisUrl: requireEnv('REDIS_URL') }, { commandTimeoutMs: 10_000 });
    const leanReader = new RedisPurchasePackageReader(redis, prefix, lean);
    for (const limit of [1, 5, 12, 100]) {
      let cursor: string | null = null;
      let pages = 0;
      do {
        const fromRedis = body(await reader.read('u_e', { limit, cursor, token: null }));
        const fromMysql = body(await mysql.read('u_e', { limit, cursor, token: null }));
        expect(fromRedis).toBe(fromMysql);
        // The lean connection's commands (first page) and script (later pages): the same bytes.
        expect(body(await leanReader.read('u_e', { limit, cursor, token: null }))).toBe(fromMysql);
        cursor = (JSON.parse(fromRedis) as { next_cursor: string | null }).next_cursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(Math.ceil(12 / limit));
    }
    await lean?.quit();
  });

  it('reads the same through an auto-pipelining client (as the api runs it)', async () => {
    const fast = new RedisPurchasePackageReader(pipelined, prefix);
    const opts = { limit: 7, cursor: null, token: null };
    const [a, b] = await Promise.all([fast.read('u_e', opts), fast.read('u_other', opts)]);
    expect(body(a)).toBe(body(await reader.read('u_e', opts)));
    expect(JSON.parse(body(b)).items.map((e: { purchase_id: string }) => e.purchase_id)).toEqual([
      'pur_other',
    ]);
  });

  it('re-renders an entry when its payment changes, and only then', async () => {
    const payment = await sourceRow('payments', 'pay_pur_01');
    expect(payment.status).toBe('pending');
    const before = await redis.hget(keys.userEntries('u_e'), 'pur_01');
    const next = { ...payment, status: 'succeeded' };
    expect(
      await writer.apply([
        { table: 'payments', id: 'pay_pur_01', version: versionOf(10n ** 14n, 0), after: next, before: null },
      ]),
    ).toEqual([true]);
    const after = await redis.hget(keys.userEntries('u_e'), 'pur_01');
    expect(after).not.toBe(before);
    const page = await readPage(reader, 'u_e', { limit: 100, cursor: null, token: null });
    if (page.kind !== 'hit') throw new Error(page.kind);
    expect(page.page.items.find((e) => e.purchase_id === 'pur_01')).toMatchObject({
      payment: { id: 'pay_pur_01', status: 'succeeded' },
      paid: true,
    });
    // An older event for the same payment changes nothing, entry included.
    await writer.apply([
      {
        table: 'payments',
        id: 'pay_pur_01',
        version: versionOf(10n ** 13n, 0),
        after: payment,
        before: null,
      },
    ]);
    expect(await redis.hget(keys.userEntries('u_e'), 'pur_01')).toBe(after);
  });

  it('renames a package with one write: every user sees the new name, no entry is rewritten', async () => {
    const entriesBefore = await redis.hgetall(keys.userEntries('u_e'));
    const plus = await sourceRow('packages', 'pkg_plus');
    await writer.apply([
      {
        table: 'packages',
        id: 'pkg_plus',
        version: versionOf(10n ** 14n, 1),
        after: { ...plus, name: 'Plus "Gold" ✓' },
        before: null,
      },
    ]);
    expect(await redis.hgetall(keys.userEntries('u_e'))).toEqual(entriesBefore);
    for (const user of ['u_e', 'u_other']) {
      const page = await readPage(reader, user, { limit: 100, cursor: null, token: null });
      if (page.kind !== 'hit') throw new Error(page.kind);
      const names = page.page.items.filter((e) => e.package.id === 'pkg_plus').map((e) => e.package.name);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names)).toEqual(new Set(['Plus "Gold" ✓']));
    }
  });

  it('lets MySQL answer when a listed purchase has lost its catalog row', async () => {
    // The lean reader has read u_e's page before: pkg_pro is among the names it asks for up front.
    const lean = createLeanRedis({ redisUrl: requireEnv('REDIS_URL') }, { commandTimeoutMs: 10_000 });
    const leanReader = new RedisPurchasePackageReader(redis, prefix, lean);
    const all = { limit: 100, cursor: null, token: null };
    expect((await leanReader.read('u_e', all)).kind).toBe('hit');
    const pro = await sourceRow('packages', 'pkg_pro');
    await writer.apply([
      { table: 'packages', id: 'pkg_pro', version: versionOf(10n ** 14n, 2), after: null, before: pro },
    ]);
    try {
      for (const r of [reader, leanReader]) {
        expect(await r.read('u_e', all)).toEqual({ kind: 'miss' });
        // u_other has no pkg_pro purchase: still a hit.
        expect((await r.read('u_other', all)).kind).toBe('hit');
      }
    } finally {
      await lean?.quit();
    }
  });

  it('removes the entry with the purchase and moves it with its owner', async () => {
    const p = {
      id: 'pur_mv',
      user_id: 'u_a',
      package_id: 'pkg_yen',
      amount: 1500,
      currency: 'JPY',
      created_at: '2026-11-25T11:00:00.000000Z',
      updated_at: '2026-11-25T11:00:00.000000Z',
    };
    const v = (n: number) => versionOf(10n ** 14n + BigInt(n), 0);
    await writer.apply([{ table: 'purchases', id: 'pur_mv', version: v(10), after: p, before: null }]);
    expect(await redis.hexists(keys.userEntries('u_a'), 'pur_mv')).toBe(1);
    await writer.apply([
      // The event's before image names the owner it leaves (its copy there becomes a tombstone).
      { table: 'purchases', id: 'pur_mv', version: v(11), after: { ...p, user_id: 'u_b' }, before: p },
    ]);
    expect(await redis.hexists(keys.userEntries('u_a'), 'pur_mv')).toBe(0);
    expect(await redis.hexists(keys.userEntries('u_b'), 'pur_mv')).toBe(1);
    await writer.apply([
      { table: 'purchases', id: 'pur_mv', version: v(12), after: null, before: { ...p, user_id: 'u_b' } },
    ]);
    expect(await redis.hexists(keys.userEntries('u_b'), 'pur_mv')).toBe(0);
  });
});

describe('consistency checker: rendered entries and catalog names', () => {
  it('reports a wrong entry, a wrong or extra catalog name and an entry under the wrong user', async () => {
    // Start from a Redis equal to MySQL.
    await redis.del(
      keys.packageRow('pkg_pro'),
      keys.packageRow('pkg_plus'),
      keys.userRow('u_e', 'payments', 'pay_pur_01'),
    );
    await rebuildCache({ pool, redis, writer, prefix, progress: silentProgress });
    await redis.del(keys.userRow('u_a', 'purchases', 'pur_mv'), keys.userRow('u_b', 'purchases', 'pur_mv'));
    expect(await verifyCache({ pool, redis, prefix })).toEqual([]);

    const entry = (await redis.hget(keys.userEntries('u_e'), 'pur_06')) ?? '';
    await redis.hset(keys.userEntries('u_e'), 'pur_06', entry.replace('"succeeded"', '"failed"'));
    await redis.hset(keys.catalogNames, 'pkg_starter', '"Renamed by hand"');
    await redis.hset(keys.catalogNames, 'pkg_gone', '"Ghost"');
    await redis.hset(keys.userEntries('u_intruder'), 'pur_other', entry);
    const problems = (await verifyCache({ pool, redis, prefix })).map(
      (m) => `${m.problem} ${m.table}:${m.id}`,
    );
    // pkg_starter's purchases read the wrong name too; that is reported once, as the catalog's problem.
    expect(problems.sort()).toEqual(
      [
        'entry purchases:pur_06',
        'catalog packages:pkg_starter',
        'catalog packages:pkg_gone',
        'entry purchases:pur_other',
      ].sort(),
    );
  });
});
