/**
 * Redis key layout shared by the consumer (writer) and the api (reader). Every key starts with a
 * configurable prefix so several pipelines (or test runs) can share one Redis. The `{u:...}` hash tag
 * keeps a user's keys in one Redis Cluster slot so the package can be read atomically.
 */
export type CacheKeys = ReturnType<typeof cacheKeys>;

export function cacheKeys(prefix: string) {
  return {
    /** Hash: `v` = version, `d` = row JSON or empty for a tombstone. */
    row: (table: string, id: string) => `${prefix}:row:${table}:${id}`,
    /** Sorted set of purchase ids, score = created_at ms (newest first on read). */
    userPurchases: (userId: string) => `${prefix}:{u:${userId}}:purchases`,
    /** Hash purchase id → package entry JSON, the denormalised view the api returns. */
    userEntries: (userId: string) => `${prefix}:{u:${userId}}:entries`,
    /** Marker that the user's package is complete in Redis (set by the consumer/rebuild). */
    userReady: (userId: string) => `${prefix}:{u:${userId}}:ready`,
    /** Consumer bookkeeping. */
    meta: (name: string) => `${prefix}:meta:${name}`,
    /** Rate limiter buckets. */
    rate: (scope: string, id: string) => `${prefix}:rl:${scope}:${id}`,
  };
}
