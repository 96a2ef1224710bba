/**
 * Redis key layout shared by the consumer (writer) and the api (reader). Every key starts with a
 * configurable prefix so several pipelines (or test runs) can share one Redis.
 *
 * The Lua scripts in ./scripts.ts build some of these keys themselves (the previous owner of a row,
 * the rows a page joins); they use the same layout and tests pin the two together. The scripts touch
 * keys of several users and rows in one call, so the layout targets a standalone (or Sentinel) Redis.
 */
export type CacheKeys = ReturnType<typeof cacheKeys>;

export function cacheKeys(prefix: string) {
  return {
    prefix,
    /** Common prefix of every row key; the scripts append `<table>:<id>`. */
    rowPrefix: `${prefix}:row:`,
    /**
     * Hash of one source row: `v` = version, `d` = canonical row JSON or '' for a tombstone,
     * `o` = owner (user id of a purchase, purchase id of a payment). A purchase also holds `pay` /
     * `payv`: the id of its payment and the version that set that pointer.
     */
    row: (table: string, id: string) => `${prefix}:row:${table}:${id}`,
    /** Common prefix of every per-user key (the near cache watches it for changes). */
    userPrefix: `${prefix}:{u:`,
    /** Sorted set of the user's purchase ids, score = created_at in µs since the epoch. */
    userPurchases: (userId: string) => `${prefix}:{u:${userId}}:purchases`,
    /**
     * Hash of the user's rendered package entries: purchase id → `<package id>\x01<entry JSON up to
     * the package name>` (see scripts.ts). Written only by the apply script, with the index.
     */
    userEntries: (userId: string) => `${prefix}:{u:${userId}}:entries`,
    /** Hash of package id → its name as a JSON string, spliced into entries at read time. */
    catalogNames: `${prefix}:catalog:names`,
    /**
     * Present once Redis holds everything (written by the rebuild); absent after a flush. Its name
     * carries the layout generation: a Redis filled by an older layout reads as not ready.
     */
    ready: `${prefix}:meta:ready:v2`,
    /** Consumer bookkeeping. */
    meta: (name: string) => `${prefix}:meta:${name}`,
    /** The user id in a per-user key (`userPurchases` / `userEntries`), or null for any other key. */
    userOf: (key: string): string | null => {
      const start = prefix.length + 4;
      const end = key.lastIndexOf('}:');
      return key.startsWith(`${prefix}:{u:`) && end >= start ? key.slice(start, end) : null;
    },
    /** Rate limiter buckets. */
    rate: (scope: string, id: string) => `${prefix}:rl:${scope}:${id}`,
  };
}
