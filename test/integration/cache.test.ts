import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCursor } from '../../runtime/core/cache/cursor.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { CacheWriter, type RowChange } from '../../runtime/core/cache/writer.ts';
import { createLeanRedis } from '../../runtime/core/redis/connect.ts';
import { at, payment, pkg, purchase, remove, upsert, v } from '../support/cache-rows.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { deleteRedisKeys } from '../support/redis.ts';

const redis = new Redis(requireEnv('REDIS_URL'));
const prefix = `cachetest:${uniqueSuffix()}`;
const writer = new CacheWriter(redis, prefix);
const reader = new RedisPurchasePackageReader(redis, prefix);
const keys = cacheKeys(prefix);
const lean = createLeanRedis({ redisUrl: requireEnv('REDIS_URL') }, { commandTimeoutMs: 10_000 });
/** The page script on ioredis (Sentinel, Cluster) and the lean connection's plain commands (standalone). */
const readers = [
  ['script', (p: string) => new RedisPurchasePackageReader(redis, p)],
  ['lean', (p: string) => new RedisPurchasePackageReader(redis, p, lean)],
] as const;

const pageOf =
  (r: RedisPurchasePackageReader) =>
  async (user: string, limit = 10, cursor: string | null = null) => {
    const read = await readPage(r, user, { limit, cursor, token: null });
    if (read.kind !== 'hit') throw new Error(`expected a hit, got ${read.kind}`);
    return read.page;
  };
const page = pageOf(reader);

beforeAll(async () => {
  await writer.load();
  await reader.load();
});

afterAll(async () => {
  await deleteRedisKeys(redis, prefix);
  redis.disconnect();
  await lean?.quit();
});

describe('cache writer: version-guarded apply', () => {
  it('applies only newer versions; duplicates and older events are no-ops', async () => {
    const p1 = pkg('pkg_v', 'First');
    expect(await writer.apply([upsert('packages', p1, v(10))])).toEqual([true]);
    expect(await writer.apply([upsert('packages', pkg('pkg_v', 'Older'), v(9))])).toEqual([false]);
    expect(await writer.apply([upsert('packages', p1, v(10))])).toEqual([false]);
    expect(await writer.apply([upsert('packages', pkg('pkg_v', 'Newer'), v(10, 1))])).toEqual([true]);
    expect(JSON.parse((await redis.hget(keys.packageRow('pkg_v'), 'd')) ?? '{}').name).toBe('Newer');
    expect(await redis.hget(keys.packageRow('pkg_v'), 'v')).toBe(v(10, 1));
  });

  it('leaves a tombstone that an older, late event cannot resurrect', async () => {
    const p = purchase('pur_t', 'u_tomb', at(5));
    await writer.apply([upsert('packages', pkg('pkg_a', 'Alpha'), v(1))]);
    await writer.markReady('0-1-1');
    expect(await writer.apply([upsert('purchases', p, v(20)), remove('purchases', p, v(22))])).toEqual([
      true,
      true,
    ]);
    expect(await writer.apply([upsert('purchases', p, v(21))])).toEqual([false]);
    expect(await redis.hgetall(keys.userRow('u_tomb', 'purchases', 'pur_t'))).toMatchObject({
      v: v(22),
      d: '',
    });
    expect((await page('u_tomb')).items).toEqual([]);
  });

  it('converges to the newest state whatever the delivery order', async () => {
    const user = 'u_order';
    const events: RowChange[] = [
      upsert('purchases', purchase('pur_o1', user, at(10)), v(30)),
      upsert('payments', payment('pay_o1', 'pur_o1', user, 'pending'), v(31)),
      upsert('payments', payment('pay_o1', 'pur_o1', user, 'succeeded'), v(33)),
      upsert('purchases', purchase('pur_o2', user, at(11)), v(34)),
      remove('purchases', purchase('pur_o2', user, at(11)), v(35)),
    ];
    const orders = [
      [0, 1, 2, 3, 4],
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [1, 2, 3, 0, 4, 4, 0],
    ];
    const results: unknown[] = [];
    for (const [n, order] of orders.entries()) {
      const p = `${prefix}:o${n}`;
      const w = new CacheWriter(redis, p);
      await w.markReady(null);
      for (const i of order) {
        const e = events[i];
        if (e) await w.apply([e]);
      }
      const r = await readPage(new RedisPurchasePackageReader(redis, p), user, {
        limit: 10,
        cursor: null,
        token: null,
      });
      results.push(r);
    }
    // Catalog is per prefix here, so the entry needs it: every order lacks it equally → all miss.
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    for (const n of orders.keys()) {
      const p = `${prefix}:o${n}`;
      await new CacheWriter(redis, p).apply([upsert('packages', pkg('pkg_a', 'Alpha'), v(1))]);
      const r = await readPage(new RedisPurchasePackageReader(redis, p), user, {
        limit: 10,
        cursor: null,
        token: null,
      });
      expect(r).toEqual({
        kind: 'hit',
        page: {
          items: [
            {
              purchase_id: 'pur_o1',
              user_id: user,
              package: { id: 'pkg_a', name: 'Alpha' },
              amount: 499,
              currency: 'EUR',
              payment: { id: 'pay_o1', status: 'succeeded' },
              paid: true,
              created_at: '2026-11-25T10:00:10.000000Z',
              updated_at: '2026-11-25T10:00:10.000000Z',
            },
          ],
          next_cursor: null,
        },
      });
    }
  });

  it('keeps the newest payment of a purchase when a deleted one arrives late', async () => {
    const user = 'u_repay';
    await writer.apply([upsert('purchases', purchase('pur_r', user, at(3)), v(40))]);
    // pay_old created (41) and deleted (42), then pay_new created (43); delivered newest first.
    await writer.apply([upsert('payments', payment('pay_new', 'pur_r', user, 'succeeded'), v(43))]);
    await writer.apply([upsert('payments', payment('pay_old', 'pur_r', user, 'failed'), v(41))]);
    await writer.apply([remove('payments', payment('pay_old', 'pur_r', user, 'failed'), v(42))]);
    const [entry] = (await page(user)).items;
    expect(entry?.payment).toEqual({ id: 'pay_new', status: 'succeeded' });
    expect(entry?.paid).toBe(true);
  });

  it('moves a purchase between users when its owner changes', async () => {
    await writer.apply([upsert('purchases', purchase('pur_m', 'u_from', at(4)), v(50))]);
    // The update's before image names the owner it leaves (the event always carries it): its copy
    // there becomes a tombstone, in the same batch as the row under the new owner.
    const before = purchase('pur_m', 'u_from', at(4));
    const after = purchase('pur_m', 'u_to', at(4));
    await writer.apply([{ table: 'purchases', id: 'pur_m', version: v(51), after, before }]);
    // Late and stale: the older state under the old owner cannot come back.
    await writer.apply([upsert('purchases', before, v(50))]);
    expect((await page('u_from')).items).toEqual([]);
    expect((await page('u_to')).items.map((e) => e.purchase_id)).toEqual(['pur_m']);
  });
});

describe('cache writer: ready markers', () => {
  it('tells a complete Redis from one that lost a marker, in a handful of commands on one server', async () => {
    const w = new CacheWriter(redis, `${prefix}:ready`);
    const k = cacheKeys(`${prefix}:ready`);
    let commands = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((...args: Parameters<typeof send>) => {
      commands++;
      return send(...args);
    }) as typeof redis.sendCommand;
    try {
      expect(await w.isReady()).toBe(false);
      await w.markReady(null);
      commands = 0;
      expect(await w.isReady()).toBe(true);
      // The consumer's guard asks every few seconds: one command per slot (16,384) was real load.
      expect(commands).toBeLessThanOrEqual(16);
      await redis.del(k.ready(16_383));
      expect(await w.isReady()).toBe(false);
    } finally {
      redis.sendCommand = send;
    }
  });
});

describe.each(readers)('cache reader (%s)', (name, make) => {
  const reader = make(prefix);
  const page = pageOf(reader);
  it('answers miss until Redis is marked ready', async () => {
    const fresh = make(`${prefix}:fresh`);
    expect(await readPage(fresh, 'u1', { limit: 5, cursor: null, token: null })).toEqual({ kind: 'miss' });
  });

  it('pages newest first by created_at then id, stable across ties and deletes', async () => {
    const user = `u_pages_${name}`;
    const created = [at(20, 5), at(20, 5), at(20, 5), at(21), at(19, 999999), at(22), at(20, 5)];
    const ids = ['pur_b', 'pur_d', 'pur_a', 'pur_x', 'pur_y', 'pur_z', 'pur_c'];
    await writer.apply(
      ids.map((id, i) => upsert('purchases', purchase(id, user, created[i] ?? ''), v(60 + i))),
    );
    const expected = ['pur_z', 'pur_x', 'pur_d', 'pur_c', 'pur_b', 'pur_a', 'pur_y'];
    for (const size of [1, 2, 3, 7, 100]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const p = await page(user, size, cursor);
        expect(p.items.length).toBeLessThanOrEqual(size);
        seen.push(...p.items.map((e) => e.purchase_id));
        cursor = p.next_cursor;
      } while (cursor !== null);
      expect(seen).toEqual(expected);
    }
    // The cursor's own row disappearing must not shift the next page.
    const first = await page(user, 3);
    expect(decodeCursor(first.next_cursor ?? '')).toEqual({
      createdAt: '2026-11-25T10:00:20.000005Z',
      id: 'pur_d',
    });
    await writer.apply([remove('purchases', purchase('pur_d', user, at(20, 5)), v(70))]);
    const second = await page(user, 3, first.next_cursor);
    expect(second.items.map((e) => e.purchase_id)).toEqual(['pur_c', 'pur_b', 'pur_a']);
  });

  it('answers behind until every row of the consistency token reached the commit', async () => {
    const user = `u_token_${name}`;
    await writer.apply([upsert('purchases', purchase('pur_k', user, at(30)), v(100, 0))]);
    const read = (gtid: string, rows: string[]) =>
      readPage(reader, user, { limit: 10, cursor: null, token: { gtid, rows } });
    expect((await read('0-1-100', ['purchases:pur_k'])).kind).toBe('hit');
    expect((await read('0-1-99', ['purchases:pur_k'])).kind).toBe('hit');
    expect((await read('0-1-101', ['purchases:pur_k'])).kind).toBe('behind');
    expect((await read('0-1-100', ['purchases:pur_k', 'payments:pay_k'])).kind).toBe('behind');
    await writer.apply([upsert('payments', payment('pay_k', 'pur_k', user, 'pending'), v(100, 1))]);
    const r = await read('0-1-100', ['purchases:pur_k', 'payments:pay_k', 'idempotency_keys:x']);
    expect(r.kind).toBe('hit');
    if (r.kind === 'hit') expect(r.page.items[0]?.payment).toEqual({ id: 'pay_k', status: 'pending' });
    // A tombstone at or after the commit satisfies the token too.
    await writer.apply([remove('payments', payment('pay_k', 'pur_k', user, 'pending'), v(102, 0))]);
    expect((await read('0-1-102', ['payments:pay_k'])).kind).toBe('hit');
  });

  it('rejects a bad limit or cursor instead of guessing', async () => {
    await expect(readPage(reader, 'u', { limit: 0, cursor: null, token: null })).rejects.toThrow(RangeError);
    await expect(readPage(reader, 'u', { limit: 101, cursor: null, token: null })).rejects.toThrow(
      RangeError,
    );
    await expect(readPage(reader, 'u', { limit: 5, cursor: 'not-a-cursor', token: null })).rejects.toThrow(
      RangeError,
    );
  });
});
