import { cacheKeys, escapeGlob, userKeyPattern } from '../core/cache/keys.ts';
import type { CachedTable } from '../core/cache/rows.ts';
import { type RedisClient, scanKeys } from '../core/redis/client.ts';

export type CachedRowState = {
  id: string;
  /** The user the copy is kept under (purchases, payments); null for a package. */
  user: string | null;
  version: string | null;
  data: string | null;
  owner: string | null;
  /** A purchase's payment pointer version (`payv`). */
  pointerVersion: string | null;
};

/**
 * Every row copy of a table in Redis (a user's row under each user that holds a copy of it), in SCAN
 * batches on every master.
 */
export async function* scanCachedRows(
  redis: RedisClient,
  prefix: string,
  table: CachedTable,
  count = 1000,
): AsyncGenerator<CachedRowState[]> {
  const keys = cacheKeys(prefix);
  const pattern =
    table === 'packages' ? `${escapeGlob(keys.packageRowPrefix)}*` : userKeyPattern(prefix, `row:${table}:*`);
  for await (const found of scanKeys(redis, pattern, count)) {
    const replies = await Promise.all(found.map((key) => redis.hmget(key, 'v', 'd', 'o', 'payv')));
    yield found.map((key, i) => {
      const [version, data, owner, pointerVersion] = replies[i] as (string | null)[];
      const parsed = table === 'packages' ? null : keys.rowOf(key);
      return {
        id: parsed ? parsed.id : key.slice(keys.packageRowPrefix.length),
        user: parsed ? parsed.user : null,
        version: version ?? null,
        data: data ?? null,
        owner: owner ?? null,
        pointerVersion: pointerVersion ?? null,
      };
    });
  }
}
