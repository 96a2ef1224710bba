import { describe, expect, it } from 'vitest';
import type { RedisClient } from '../redis/client.ts';
import { keySlot, SLOTS, slotTag } from '../redis/slots.ts';
import { cacheKeys } from './keys.ts';
import type { CanonicalRow } from './rows.ts';
import { CacheWriter, type RowChange } from './writer.ts';

const keys = cacheKeys('pay');

describe('hash slots', () => {
  it('are Redis Cluster’s (CRC16-XMODEM mod 16384, hash tags honoured)', () => {
    // Values from `CLUSTER KEYSLOT` of a real Redis.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}')); // empty tag: the whole key
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
  });

  it('have a tag for every slot', () => {
    for (const slot of [0, 1, 777, 8191, SLOTS - 1]) expect(keySlot(`x{${slotTag(slot)}}y`)).toBe(slot);
  });
});

describe('the cache layout on a cluster', () => {
  it('keeps every key of one user, and its slot’s markers, in the user’s slot', () => {
    const slot = keys.userSlot('alice');
    for (const key of [
      keys.userPurchases('alice'),
      keys.userEntries('alice'),
      keys.userRow('alice', 'purchases', 'pur_1'),
      keys.userRow('alice', 'payments', 'pay_1'),
      keys.readyFor('alice'),
      keys.appliedFor('alice'),
    ])
      expect(keySlot(key), key).toBe(slot);
    expect(keySlot(keys.packageRow('pkg_1'))).toBe(keySlot(keys.catalogNames));
    expect(keys.rowOf(keys.userRow('a}b', 'payments', 'pay:1'))).toEqual({
      user: 'a}b',
      table: 'payments',
      id: 'pay:1',
    });
  });

  it('sends every apply call with keys of one slot, a moved row under both owners', async () => {
    const calls: string[][] = [];
    const fake = {
      evalsha: async (_sha: string, n: number, ...rest: unknown[]) => {
        calls.push(rest.slice(0, n) as string[]);
        return 1;
      },
    } as unknown as RedisClient;
    const purchase = (user: string): CanonicalRow => ({
      id: 'pur_1',
      user_id: user,
      package_id: 'pkg_1',
      amount: 100,
      currency: 'EUR',
      created_at: '2026-01-01T00:00:00.000000Z',
      updated_at: '2026-01-01T00:00:00.000000Z',
    });
    const payment = (user: string, purchaseId: string): CanonicalRow => ({
      id: 'pay_1',
      purchase_id: purchaseId,
      user_id: user,
      amount: 100,
      currency: 'EUR',
      status: 'pending',
      provider: 'sim',
      provider_ref: null,
      failure_code: null,
      created_at: '2026-01-01T00:00:00.000000Z',
      updated_at: '2026-01-01T00:00:00.000000Z',
    });
    const v = '00000000000000000001.0000000000';
    const changes: RowChange[] = [
      { table: 'purchases', id: 'pur_1', version: v, after: purchase('bob'), before: purchase('alice') },
      {
        table: 'payments',
        id: 'pay_1',
        version: v,
        after: payment('bob', 'pur_1'),
        before: payment('alice', 'pur_1'),
      },
      {
        table: 'payments',
        id: 'pay_1',
        version: v,
        after: payment('bob', 'pur_2'),
        before: payment('bob', 'pur_1'),
      },
      { table: 'purchases', id: 'pur_1', version: v, after: null, before: purchase('bob') },
    ];
    expect(await new CacheWriter(fake, 'pay').apply(changes)).toEqual([true, true, true, true]);
    for (const keysOfCall of calls) {
      expect(new Set(keysOfCall.map(keySlot)).size, keysOfCall.join(' ')).toBe(1);
    }
    const slotsOf = (i: number) => keySlot(calls[i]?.[0] ?? '');
    // The owner change: the row under bob, a tombstone under alice (purchase, then payment).
    expect([slotsOf(0), slotsOf(1)]).toEqual([keys.userSlot('bob'), keys.userSlot('alice')]);
    expect([slotsOf(2), slotsOf(3)]).toEqual([keys.userSlot('bob'), keys.userSlot('alice')]);
    // A payment moved between two purchases of one user declares both purchases.
    expect(calls[4]).toEqual([
      keys.userRow('bob', 'payments', 'pay_1'),
      keys.userRow('bob', 'purchases', 'pur_2'),
      keys.userEntries('bob'),
      keys.userRow('bob', 'purchases', 'pur_1'),
    ]);
    expect(calls).toHaveLength(6);
  });
});
