import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import { cacheKeys } from '../core/cache/keys.ts';
import { type CachedTable, microsOfIso } from '../core/cache/rows.ts';
import { scanCachedRows } from './cached-rows.ts';
import { readSourceRows } from './source-rows.ts';

export type Mismatch = {
  table: CachedTable | 'meta';
  id: string;
  problem: 'missing' | 'differs' | 'extra' | 'index' | 'payment_link' | 'not_ready';
  detail: string;
};

/**
 * Compares Redis with MySQL: every cached row (canonical JSON), every user's purchase index (member and
 * score), every purchase's payment link, no extra live rows or index members, and the ready marker.
 * Meant for a quiet or caught-up pipeline; `verifyUntilConsistent` re-checks while the consumer catches up.
 */
export async function verifyCache(opts: { pool: Pool; redis: Redis; prefix: string }): Promise<Mismatch[]> {
  const { pool, redis, prefix } = opts;
  const keys = cacheKeys(prefix);
  const out: Mismatch[] = [];
  if ((await redis.exists(keys.ready)) === 0) {
    out.push({
      table: 'meta',
      id: keys.ready,
      problem: 'not_ready',
      detail: 'Redis was never rebuilt (or was flushed)',
    });
  }
  const paymentOf = new Map<string, string>();
  const ownerOf = new Map<string, string>();
  const sourceIds = new Map<CachedTable, Set<string>>();

  for (const table of ['packages', 'payments', 'purchases'] as const) {
    const ids = new Set<string>();
    sourceIds.set(table, ids);
    for await (const rows of readSourceRows(pool, table, 1000)) {
      const pipeline = redis.pipeline();
      for (const row of rows) {
        pipeline.hmget(keys.row(table, String(row.id)), 'd', 'pay');
        if (table === 'purchases') pipeline.zscore(keys.userPurchases(String(row.user_id)), String(row.id));
      }
      const replies = ((await pipeline.exec()) ?? []).map(([err, value]) => {
        if (err) throw err;
        return value;
      });
      let r = 0;
      for (const row of rows) {
        const id = String(row.id);
        ids.add(id);
        const [data, pay] = replies[r++] as (string | null)[];
        const expected = JSON.stringify(row);
        if (data === null || data === undefined) {
          out.push({ table, id, problem: 'missing', detail: `expected ${expected}` });
        } else if (data !== expected) {
          out.push({
            table,
            id,
            problem: 'differs',
            detail: `redis ${data || '(tombstone)'} mysql ${expected}`,
          });
        }
        if (table === 'payments') paymentOf.set(String(row.purchase_id), id);
        if (table === 'purchases') {
          ownerOf.set(id, String(row.user_id));
          const score = replies[r++] as string | null;
          const want = microsOfIso(String(row.created_at));
          if (score === null || Number(score) !== want) {
            out.push({
              table,
              id,
              problem: 'index',
              detail: `user ${row.user_id} index score ${score} expected ${want}`,
            });
          }
          const link = paymentOf.get(id) ?? null;
          if ((pay ?? null) !== link) {
            out.push({
              table,
              id,
              problem: 'payment_link',
              detail: `redis ${pay ?? 'none'} mysql ${link ?? 'none'}`,
            });
          }
        }
      }
    }
  }

  for (const table of ['packages', 'payments', 'purchases'] as const) {
    const ids = sourceIds.get(table) ?? new Set();
    for await (const rows of scanCachedRows(redis, prefix, table)) {
      for (const row of rows) {
        if (row.data && !ids.has(row.id)) {
          out.push({
            table,
            id: row.id,
            problem: 'extra',
            detail: `live in Redis, absent from MySQL: ${row.data}`,
          });
        }
      }
    }
  }
  out.push(...(await extraIndexMembers(redis, prefix, ownerOf)));
  return out;
}

async function extraIndexMembers(
  redis: Redis,
  prefix: string,
  ownerOf: Map<string, string>,
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}:\\{u:*}:purchases`;
  const head = `${prefix}:{u:`;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const user = key.slice(head.length, -'}:purchases'.length);
      for (const id of await redis.zrange(key, '0', '-1')) {
        if (ownerOf.get(id) !== user) {
          out.push({
            table: 'purchases',
            id,
            problem: 'index',
            detail: `listed for user ${user}, not theirs in MySQL`,
          });
        }
      }
    }
  } while (cursor !== '0');
  return out;
}

/** Re-checks until consistent or the deadline passes; returns the last mismatches. */
export async function verifyUntilConsistent(
  opts: { pool: Pool; redis: Redis; prefix: string },
  waitMs: number,
  intervalMs = 500,
): Promise<Mismatch[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const mismatches = await verifyCache(opts);
    if (mismatches.length === 0 || Date.now() >= deadline) return mismatches;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function formatMismatch(m: Mismatch): string {
  return `${m.problem.padEnd(12)} ${m.table}:${m.id}  ${m.detail}`;
}
