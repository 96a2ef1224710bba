import type { Redis } from 'ioredis';
import { cacheKeys } from '../core/cache/keys.ts';
import type { CachedTable } from '../core/cache/rows.ts';

export type CachedRowState = {
  id: string;
  version: string | null;
  data: string | null;
  owner: string | null;
  /** A purchase's payment pointer version (`payv`). */
  pointerVersion: string | null;
};

/** Every row key of a table in Redis, in SCAN batches (never KEYS: Redis stays responsive). */
export async function* scanCachedRows(
  redis: Redis,
  prefix: string,
  table: CachedTable,
  count = 1000,
): AsyncGenerator<CachedRowState[]> {
  const base = cacheKeys(prefix).row(table, '');
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${escapeGlob(base)}*`, 'COUNT', count);
    cursor = next;
    if (found.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of found) pipeline.hmget(key, 'v', 'd', 'o', 'payv');
    const replies = (await pipeline.exec()) ?? [];
    yield found.map((key, i) => {
      const [err, values] = replies[i] ?? [new Error('missing reply'), null];
      if (err) throw err;
      const [version, data, owner, pointerVersion] = values as (string | null)[];
      return {
        id: key.slice(base.length),
        version: version ?? null,
        data: data ?? null,
        owner: owner ?? null,
        pointerVersion: pointerVersion ?? null,
      };
    });
  } while (cursor !== '0');
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
