import type { Pool, PoolConnection } from 'mysql2/promise';
import { withSourceSnapshot } from '../db/snapshot.ts';
import { versionOf } from '../position.ts';
import type { RedisClient } from '../redis/client.ts';
import { cacheKeys } from './keys.ts';
import { LuaScript } from './lua.ts';
import { type CachedTable, type CanonicalRow, canonicalRow, columnsOf } from './rows.ts';
import type { CacheWriter, RowChange } from './writer.ts';

export type RepairResult = {
  user: string;
  gtid: string | null;
  version: string;
  /** Rows read from MySQL and written (those not newer in Redis). */
  rows: Record<CachedTable, number>;
  applied: number;
  /** Rows Redis held for the user that MySQL does not have, tombstoned. */
  tombstoned: number;
  /** Index members and entries left under the user for purchases that are not theirs, removed. */
  unlisted: number;
};

/** The highest row index: every change of the snapshot's transaction orders before it. */
const LAST_ROW = 10 ** 10 - 1;

/**
 * Removes a purchase from a user's index and entries unless its row (still) names that user as
 * owner: atomic with that check, so a purchase the stream gives the user meanwhile keeps its place.
 * KEYS[1] the purchase row, KEYS[2] the user's index, KEYS[3] the user's entries; ARGV[1] user, ARGV[2] id.
 */
const unlistScript = new LuaScript(
  `
local row = redis.call('HMGET', KEYS[1], 'd', 'o')
if row[1] and row[1] ~= '' and row[2] == ARGV[1] then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[2]) + redis.call('HDEL', KEYS[3], ARGV[2])
`,
  3,
);

/**
 * Rebuilds one user's part of the cache from MySQL, without a full rebuild and safe against the live
 * stream: their purchases and payments, the packages those name, and everything Redis lists under the
 * user that MySQL does not have. Every write goes through the consumer's compare-and-set with the
 * version (snapshot GTID, last row index): it wins over every change the snapshot contains (so rows
 * and their rendered entries are rewritten even when Redis's copy came from that very transaction) and
 * loses to every later one, so a newer change the stream applied is never overwritten.
 * Rows whose Redis version is newer than the snapshot are left as the stream wrote them.
 */
export async function repairUser(opts: {
  pool: Pool;
  redis: RedisClient;
  writer: CacheWriter;
  prefix: string;
  userId: string;
}): Promise<RepairResult> {
  const { redis, userId } = opts;
  const keys = cacheKeys(opts.prefix);
  const index = keys.userPurchases(userId);
  const entries = keys.userEntries(userId);
  const listed = new Set([...(await redis.zrange(index, '0', '-1')), ...(await redis.hkeys(entries))]);

  const plan = await withSourceSnapshot(opts.pool, async (conn, { gtid, sequence }) => {
    const version = versionOf(sequence, LAST_ROW);
    const purchases = await selectRows(conn, 'purchases', 'user_id', [userId]);
    const payments = await selectRows(conn, 'payments', 'user_id', [userId]);
    const own = new Set(purchases.map((p) => String(p.id)));
    // Listed under the user but not theirs: another user's now, or gone from MySQL.
    const strays = [...listed].filter((id) => !own.has(id));
    const moved = await selectRows(conn, 'purchases', 'id', strays);
    const movedIds = new Set(moved.map((p) => String(p.id)));
    // Payments the cached purchases point at that are not the user's in MySQL.
    const purchaseIds = [...own, ...strays];
    const pay = await Promise.all(
      purchaseIds.map((id) => redis.hget(keys.userRow(userId, 'purchases', id), 'pay')),
    );
    const ownPayments = new Set(payments.map((p) => String(p.id)));
    const pointed = new Map<string, string>();
    pay.forEach((paymentId, i) => {
      if (paymentId && !ownPayments.has(paymentId)) pointed.set(paymentId, purchaseIds[i] as string);
    });
    const otherPayments = await selectRows(conn, 'payments', 'id', [...pointed.keys()]);
    const packageIds = [...new Set([...purchases, ...moved].map((p) => String(p.package_id)))];
    const packages = await selectRows(conn, 'packages', 'id', packageIds);
    const found = new Set(otherPayments.map((p) => String(p.id)));
    return {
      gtid,
      version,
      live: { packages, purchases, payments },
      moved,
      otherPayments: otherPayments.map((p) => ({ row: p, from: pointed.get(String(p.id)) as string })),
      gonePurchases: strays.filter((id) => !movedIds.has(id)),
      gonePayments: [...pointed].filter(([id]) => !found.has(id)),
      strays,
    };
  });

  const { version } = plan;
  const changes: RowChange[] = [];
  for (const table of ['packages', 'purchases', 'payments'] as const) {
    for (const row of plan.live[table]) {
      changes.push({ table, id: String(row.id), version, after: row, before: null });
    }
  }
  // Rows another user owns now: written under that user, and the copy under this one becomes a tombstone.
  for (const row of plan.moved) {
    const id = String(row.id);
    const before = {
      ...((await cachedRow(redis, keys.userRow(userId, 'purchases', id))) ?? { id }),
      user_id: userId,
    };
    changes.push({ table: 'purchases', id, version, after: row, before });
  }
  for (const { row, from } of plan.otherPayments) {
    const id = String(row.id);
    const cached = (await cachedRow(redis, keys.userRow(userId, 'payments', id))) ?? { id };
    const before = { ...cached, purchase_id: from, user_id: userId };
    changes.push({ table: 'payments', id, version, after: row, before });
  }
  const applied = (await opts.writer.apply(changes)).filter(Boolean).length;

  const tombstones: RowChange[] = [];
  for (const id of plan.gonePurchases) {
    const before = {
      ...((await cachedRow(redis, keys.userRow(userId, 'purchases', id))) ?? { id }),
      user_id: userId,
    };
    tombstones.push({ table: 'purchases', id, version, after: null, before });
  }
  for (const [id, purchaseId] of plan.gonePayments) {
    const cached = (await cachedRow(redis, keys.userRow(userId, 'payments', id))) ?? { id };
    const before = { ...cached, purchase_id: purchaseId, user_id: userId };
    tombstones.push({ table: 'payments', id, version, after: null, before });
  }
  const tombstoned = (await opts.writer.apply(tombstones)).filter(Boolean).length;

  let unlisted = 0;
  for (const id of plan.strays) {
    const removed = await unlistScript.run(
      redis,
      [keys.userRow(userId, 'purchases', id), index, entries],
      [userId, id],
    );
    unlisted += Number(removed) > 0 ? 1 : 0;
  }
  return {
    user: userId,
    gtid: plan.gtid,
    version,
    rows: {
      packages: plan.live.packages.length,
      purchases: plan.live.purchases.length + plan.moved.length,
      payments: plan.live.payments.length + plan.otherPayments.length,
    },
    applied,
    tombstoned,
    unlisted,
  };
}

/** Rows of a cached table whose `column` is one of `values` (an indexed column), canonical. */
async function selectRows(
  conn: PoolConnection,
  table: CachedTable,
  column: 'id' | 'user_id',
  values: readonly string[],
): Promise<CanonicalRow[]> {
  if (values.length === 0) return [];
  const columns = columnsOf(table)
    .map((c) => `\`${c}\``)
    .join(', ');
  const [rows]: [unknown, unknown] = await conn.query({
    sql: `SELECT ${columns} FROM \`${table}\` WHERE \`${column}\` IN (?) ORDER BY id`,
    values: [values],
    dateStrings: true,
  });
  return (rows as Record<string, unknown>[]).map((r) => canonicalRow(table, r));
}

async function cachedRow(redis: RedisClient, key: string): Promise<CanonicalRow | null> {
  const data = await redis.hget(key, 'd');
  return data ? (JSON.parse(data) as CanonicalRow) : null;
}
