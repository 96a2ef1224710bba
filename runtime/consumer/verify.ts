import type { Pool } from 'mysql2/promise';
import { completeEntry, expectedEntry } from '../core/cache/entries.ts';
import { cacheKeys, userKeyPattern } from '../core/cache/keys.ts';
import { type CachedTable, type CanonicalRow, microsOfIso } from '../core/cache/rows.ts';
import { type RedisClient, scanKeys } from '../core/redis/client.ts';
import { SLOTS } from '../core/redis/slots.ts';
import { scanCachedRows } from './cached-rows.ts';
import { readSourceRows } from './source-rows.ts';

export type Mismatch = {
  table: CachedTable | 'meta';
  id: string;
  problem: 'missing' | 'differs' | 'extra' | 'index' | 'payment_link' | 'entry' | 'catalog' | 'not_ready';
  detail: string;
};

/**
 * How a cached row (its `d` field: canonical JSON, '' for a tombstone, null when absent) differs from
 * MySQL's row (null when MySQL has none), or null when they agree. The one row comparison of the
 * one-shot verify and the continuous checker (consistency-check.ts).
 */
export function rowProblem(
  mysql: CanonicalRow | null,
  cached: string | null,
): 'missing' | 'differs' | 'extra' | null {
  if (mysql === null) return cached ? 'extra' : null;
  if (cached === null) return 'missing';
  return cached === JSON.stringify(mysql) ? null : 'differs';
}

/**
 * Compares Redis with MySQL: every cached row (canonical JSON), every user's purchase index (member and
 * score), every purchase's payment link, every rendered package entry and catalog name, no extra live
 * rows, index members or entries, and the ready marker. Entries and names are derived data: they are
 * checked where their rows agree (a row mismatch already names the problem, once).
 * Meant for a quiet or caught-up pipeline; `verifyUntilConsistent` re-checks while the consumer catches up.
 */
export async function verifyCache(opts: {
  pool: Pool;
  redis: RedisClient;
  prefix: string;
}): Promise<Mismatch[]> {
  const { pool, redis, prefix } = opts;
  const keys = cacheKeys(prefix);
  const out: Mismatch[] = [];
  const markers = await Promise.all(
    Array.from({ length: SLOTS }, (_, slot) => redis.exists(keys.ready(slot))),
  );
  const unmarked = markers.flatMap((found, slot) => (found === 0 ? [slot] : []));
  if (unmarked.length > 0) {
    out.push({
      table: 'meta',
      id: keys.ready(unmarked[0] as number),
      problem: 'not_ready',
      detail: `${unmarked.length} of ${SLOTS} slots have no ready marker: Redis was never rebuilt (or a master was flushed)`,
    });
  }
  const paymentOf = new Map<string, string>();
  const paymentStatus = new Map<string, string>();
  const packageName = new Map<string, string>();
  const reported = new Set<string>();
  const ownerOf = new Map<string, string>();
  /** Per table: MySQL's ids and, for a user's row, the user it belongs to. */
  const sourceIds = new Map<CachedTable, Map<string, string | null>>();

  for (const table of ['packages', 'payments', 'purchases'] as const) {
    const ids = new Map<string, string | null>();
    sourceIds.set(table, ids);
    for await (const rows of readSourceRows(pool, table, 1000)) {
      // Sent together (auto-pipelined per node on a cluster); each reply in request order.
      const requests: Promise<unknown>[] = [];
      for (const row of rows) {
        const id = String(row.id);
        const user = String(row.user_id);
        const rowKey = table === 'packages' ? keys.packageRow(id) : keys.userRow(user, table, id);
        requests.push(redis.hmget(rowKey, 'd', 'pay'));
        if (table === 'packages') requests.push(redis.hget(keys.catalogNames, id));
        if (table === 'purchases') {
          requests.push(redis.zscore(keys.userPurchases(user), id));
          requests.push(redis.hget(keys.userEntries(user), id));
          requests.push(redis.hget(keys.catalogNames, String(row.package_id)));
        }
      }
      const replies = await Promise.all(requests);
      let r = 0;
      for (const row of rows) {
        const id = String(row.id);
        ids.set(id, table === 'packages' ? null : String(row.user_id));
        const [data, pay] = replies[r++] as (string | null)[];
        const expected = JSON.stringify(row);
        const found = out.length;
        const problem = rowProblem(row, data ?? null);
        if (problem === 'missing') {
          out.push({ table, id, problem, detail: `expected ${expected}` });
        } else if (problem === 'differs') {
          out.push({ table, id, problem, detail: `redis ${data || '(tombstone)'} mysql ${expected}` });
        }
        if (table === 'packages') {
          packageName.set(id, String(row.name));
          const name = replies[r++] as string | null;
          const want = JSON.stringify(row.name);
          if (out.length === found && name !== want) {
            out.push({ table, id, problem: 'catalog', detail: `redis name ${name ?? 'none'} mysql ${want}` });
          }
        }
        if (table === 'payments') {
          paymentOf.set(String(row.purchase_id), id);
          paymentStatus.set(id, String(row.status));
        }
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
          const entry = completeEntry(replies[r++] as string | null, replies[r++] as string | null);
          const pkg = String(row.package_id);
          const rowsAgree =
            out.length === found &&
            !reported.has(`packages:${pkg}`) &&
            (link === null || !reported.has(`payments:${link}`));
          const wantEntry = expectedEntry(
            row,
            link === null ? null : { id: link, status: paymentStatus.get(link) ?? '' },
            packageName.get(pkg) ?? '',
          );
          if (rowsAgree && entry !== wantEntry) {
            out.push({ table, id, problem: 'entry', detail: `redis ${entry ?? 'none'} mysql ${wantEntry}` });
          }
        }
        if (out.length > found) reported.add(`${table}:${id}`);
      }
    }
  }

  for (const table of ['packages', 'payments', 'purchases'] as const) {
    const ids = sourceIds.get(table) ?? new Map();
    for await (const rows of scanCachedRows(redis, prefix, table)) {
      for (const row of rows) {
        if (rowProblem(null, row.data) !== 'extra') continue;
        if (!ids.has(row.id)) {
          out.push({
            table,
            id: row.id,
            problem: 'extra',
            detail: `live in Redis, absent from MySQL: ${row.data}`,
          });
        } else if (ids.get(row.id) !== row.user) {
          out.push({
            table,
            id: row.id,
            problem: 'extra',
            detail: `live in Redis under user ${row.user}, user ${ids.get(row.id)}'s in MySQL`,
          });
        }
      }
    }
  }
  out.push(...(await extraIndexMembers(redis, prefix, ownerOf)));
  for (const m of out) reported.add(`${m.table}:${m.id}`);
  out.push(...(await extraEntries(redis, prefix, ownerOf, reported)));
  out.push(...(await extraCatalogNames(redis, prefix, packageName)));
  return out;
}

async function extraIndexMembers(
  redis: RedisClient,
  prefix: string,
  ownerOf: Map<string, string>,
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  const keys = cacheKeys(prefix);
  for await (const found of scanKeys(redis, userKeyPattern(prefix, 'purchases'))) {
    for (const key of found) {
      const user = keys.userOf(key) ?? '';
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
  }
  return out;
}

/** Entries of purchases that are not the user's in MySQL (unless the purchase is reported already). */
async function extraEntries(
  redis: RedisClient,
  prefix: string,
  ownerOf: Map<string, string>,
  reported: Set<string>,
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  const keys = cacheKeys(prefix);
  for await (const found of scanKeys(redis, userKeyPattern(prefix, 'entries'))) {
    for (const key of found) {
      const user = keys.userOf(key) ?? '';
      for (const id of await redis.hkeys(key)) {
        if (ownerOf.get(id) !== user && !reported.has(`purchases:${id}`)) {
          out.push({
            table: 'purchases',
            id,
            problem: 'entry',
            detail: `entry for user ${user}, not theirs in MySQL`,
          });
        }
      }
    }
  }
  return out;
}

async function extraCatalogNames(
  redis: RedisClient,
  prefix: string,
  packageName: Map<string, string>,
): Promise<Mismatch[]> {
  const names = await redis.hkeys(cacheKeys(prefix).catalogNames);
  return names
    .filter((id) => !packageName.has(id))
    .map((id) => ({
      table: 'packages',
      id,
      problem: 'catalog',
      detail: 'name cached for a package MySQL does not have',
    }));
}

/** Re-checks until consistent or the deadline passes; returns the last mismatches. */
export async function verifyUntilConsistent(
  opts: { pool: Pool; redis: RedisClient; prefix: string },
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
