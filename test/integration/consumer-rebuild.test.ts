import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { readSourceState } from '../../runtime/core/binlog/source.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { versionOf } from '../../runtime/core/position.ts';

import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { advanceSource, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteRedisKeys } from '../support/redis.ts';

const sourceSequence = async (pool: Pool) => (await readSourceState(pool)).sequence;

let db: TestDatabase;
let app: Pool;
const redis = new Redis(requireEnv('REDIS_URL'));
const prefix = `rebuildtest:${uniqueSuffix()}`;
const keys = cacheKeys(prefix);
const writer = new CacheWriter(redis, prefix);

async function insertPurchase(
  id: string,
  user: string,
  pkg = 'pkg_starter',
  status: string | null = 'succeeded',
) {
  await app.query(
    'INSERT INTO purchases (id, user_id, package_id, amount, currency) SELECT ?, ?, id, price_amount, currency FROM packages WHERE id = ?',
    [id, user, pkg],
  );
  if (status) {
    await app.query(
      "INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider) SELECT ?, id, user_id, amount, currency, ?, 'test' FROM purchases WHERE id = ?",
      [`pay_${id}`, status, id],
    );
  }
}

const rebuild = (onSnapshot?: () => Promise<void>) =>
  rebuildCache({
    pool: app,
    redis,
    writer,
    prefix,
    batchSize: 3,
    progress: silentProgress,
    ...(onSnapshot ? { onSnapshot } : {}),
  });

beforeAll(async () => {
  db = await createTestDatabase();
  app = createPool(db.appUrl, { connectionLimit: 3 });
  await writer.load();
});

afterAll(async () => {
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  await app?.end();
  await db?.drop();
});

describe('rebuild from MySQL and the consistency checker', () => {
  it('reports a never-built Redis, then rebuilds it to equal MySQL', async () => {
    for (let i = 0; i < 8; i++)
      await insertPurchase(
        `pur_${i}`,
        i % 2 ? 'u_odd' : 'u_even',
        'pkg_plus',
        i % 3 ? 'succeeded' : 'pending',
      );
    await insertPurchase('pur_nopay', 'u_even', 'pkg_pro', null);

    const before = await verifyCache({ pool: app, redis, prefix });
    expect(before.map((m) => m.problem)).toContain('not_ready');
    expect(before.filter((m) => m.problem === 'missing')).toHaveLength(4 + 9 + 8);

    // Other suites write to the same server meanwhile: the snapshot's GTID lies between our last
    // write and whatever the server has reached once the rebuild returns.
    const lastWrite = await sourceSequence(app);
    const result = await rebuild();
    const reached = await sourceSequence(app);
    expect(result.rows).toEqual({ packages: 4, purchases: 9, payments: 8 });
    const seq = BigInt(result.version.slice(0, result.version.indexOf('.')));
    expect(seq).toBeGreaterThanOrEqual(lastWrite);
    expect(seq).toBeLessThanOrEqual(reached);
    expect(await verifyCache({ pool: app, redis, prefix })).toEqual([]);

    const reader = new RedisPurchasePackageReader(redis, prefix);
    const page = await readPage(reader, 'u_even', { limit: 10, cursor: null, token: null });
    expect(page.kind).toBe('hit');
    if (page.kind === 'hit') {
      expect(page.page.items).toHaveLength(5);
      const nopay = page.page.items.find((e) => e.purchase_id === 'pur_nopay');
      expect(nopay).toMatchObject({
        package: { id: 'pkg_pro', name: 'Pro' },
        payment: null,
        paid: false,
        amount: 6999,
      });
      expect(page.page.items.find((e) => e.purchase_id === 'pur_2')).toMatchObject({
        payment: { id: 'pay_pur_2', status: 'succeeded' },
        paid: true,
      });
    }
  });

  it('prints every kind of difference after MySQL changes behind the cache', async () => {
    await app.query("UPDATE payments SET status = 'refunded' WHERE id = 'pay_pur_1'");
    await app.query("DELETE FROM payments WHERE id = 'pay_pur_2'");
    await insertPurchase('pur_new', 'u_new');
    await redis.zadd(keys.userPurchases('u_odd'), 1, 'pur_ghost');
    const problems = (await verifyCache({ pool: app, redis, prefix })).map(
      (m) => `${m.problem} ${m.table}:${m.id}`,
    );
    expect(problems.sort()).toEqual(
      [
        'differs payments:pay_pur_1',
        'extra payments:pay_pur_2',
        'payment_link purchases:pur_2',
        'missing purchases:pur_new',
        'index purchases:pur_new',
        'missing payments:pay_pur_new',
        'payment_link purchases:pur_new',
        'index purchases:pur_ghost',
      ].sort(),
    );
    await redis.zrem(keys.userPurchases('u_odd'), 'pur_ghost');
    const result = await rebuild();
    expect(result.tombstoned).toBe(1);
    expect(await verifyCache({ pool: app, redis, prefix })).toEqual([]);
  });

  it('never overwrites a change the live stream applied after the snapshot', async () => {
    const live = {
      ...JSON.parse((await redis.hget(keys.packageRow('pkg_yen'), 'd')) ?? '{}'),
      name: 'Live',
    };
    // Applied while the rebuild runs, from a transaction committed after its snapshot opened.
    const applyLive = async () => {
      const future = versionOf(await advanceSource(db.admin, 1), 0);
      expect(
        await writer.apply([
          { table: 'packages', id: 'pkg_yen', version: future, after: live, before: null },
        ]),
      ).toEqual([true]);
      await writer.apply([
        {
          table: 'purchases',
          id: 'pur_live',
          version: future,
          after: {
            id: 'pur_live',
            user_id: 'u_live',
            package_id: 'pkg_yen',
            amount: 1500,
            currency: 'JPY',
            created_at: '2026-11-25T10:00:00.000000Z',
            updated_at: '2026-11-25T10:00:00.000000Z',
          },
          before: null,
        },
      ]);
    };
    await rebuild(applyLive);
    expect(JSON.parse((await redis.hget(keys.packageRow('pkg_yen'), 'd')) ?? '{}').name).toBe('Live');
    expect(await redis.hget(keys.userRow('u_live', 'purchases', 'pur_live'), 'd')).not.toBe('');
    const problems = (await verifyCache({ pool: app, redis, prefix })).map(
      (m) => `${m.problem} ${m.table}:${m.id}`,
    );
    expect(problems.sort()).toEqual([
      'differs packages:pkg_yen',
      'extra purchases:pur_live',
      'index purchases:pur_live',
    ]);
  });

  it('repairs rows whose cached version is beyond what the source has produced (forged events)', async () => {
    await insertPurchase('pur_forge', 'u_forge', 'pkg_starter', 'pending');
    await insertPurchase('pur_hidden', 'u_forge', 'pkg_starter', null);
    await rebuild();
    expect(await verifyCache({ pool: app, redis, prefix })).toEqual([]);
    const forged = versionOf(10n ** 15n, 0);
    const payment = JSON.parse(
      (await redis.hget(keys.userRow('u_forge', 'payments', 'pay_pur_forge'), 'd')) ?? '{}',
    );
    const hidden = JSON.parse(
      (await redis.hget(keys.userRow('u_forge', 'purchases', 'pur_hidden'), 'd')) ?? '{}',
    );
    // What a forged "succeeded" and a forged delete leave behind: versions no real change can beat.
    expect(
      await writer.apply([
        {
          table: 'payments',
          id: 'pay_pur_forge',
          version: forged,
          after: { ...payment, status: 'succeeded' },
          before: null,
        },
        { table: 'purchases', id: 'pur_hidden', version: forged, after: null, before: hidden },
      ]),
    ).toEqual([true, true]);
    const result = await rebuild();
    expect(await verifyCache({ pool: app, redis, prefix })).toEqual([]);
    expect(result.repaired).toBe(3); // the payment, the purchase's pointer, the hidden purchase
    const source = await sourceSequence(app);
    for (const [table, id, field] of [
      ['payments', 'pay_pur_forge', 'v'],
      ['purchases', 'pur_forge', 'payv'],
      ['purchases', 'pur_hidden', 'v'],
    ] as const) {
      const v = (await redis.hget(keys.userRow('u_forge', table, id), field)) ?? '';
      expect(BigInt(v.slice(0, v.indexOf('.')))).toBeLessThanOrEqual(source);
    }
    // The next real change applies again.
    await app.query("UPDATE payments SET status = 'succeeded' WHERE id = 'pay_pur_forge'");
    const next = versionOf((await sourceSequence(app)) + 1n, 0);
    expect(
      await writer.apply([
        {
          table: 'payments',
          id: 'pay_pur_forge',
          version: next,
          after: { ...payment, status: 'succeeded' },
          before: null,
        },
      ]),
    ).toEqual([true]);
  });
});
