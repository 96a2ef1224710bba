import { keySlot, SLOTS, slotTag } from '../redis/slots.ts';

/**
 * Redis key layout shared by the consumer (writer) and the api (reader). Every key starts with a
 * configurable prefix so several pipelines (or test runs) can share one Redis.
 *
 * The layout is made for Redis Cluster and is the same in every mode (standalone, Sentinel, cluster):
 * - Everything the read path and the apply path touch for one user carries that user's hash tag
 *   `{u:<user>}`: the purchase index, the rendered entries, and the copies of the user's rows
 *   (purchases and payments are keyed under their owner). One script call therefore touches one slot.
 * - The catalog (package rows and the names hash) carries the tag `{catalog}`: it is global and small,
 *   and read separately from the page (a second command to the catalog's node), so a rename stays one
 *   write instead of one per slot.
 * - The ready marker and the applied position exist once per hash slot, under a tag of that slot
 *   (slots.ts): a page read checks the marker of its own slot in the same atomic step, and a flush of one
 *   master (its slots' markers gone) makes exactly the users on it read from MySQL until the rebuild.
 * Every key name carries the layout generation (`g3`): a Redis filled by an older layout has no marker of
 * this one, reads as not ready, and is rebuilt by the consumer.
 */
export const LAYOUT_GENERATION = 3;
const G = `g${LAYOUT_GENERATION}`;

export type CacheKeys = ReturnType<typeof cacheKeys>;
/** Tables whose rows belong to a user (keyed under the owner's tag). */
export type UserTable = 'purchases' | 'payments';

export function cacheKeys(prefix: string) {
  const user = (userId: string) => `${prefix}:{u:${userId}}:${G}`;
  const readyBase = `${prefix}:${G}:ready:`;
  const appliedBase = `${prefix}:${G}:applied:`;
  return {
    prefix,
    /**
     * Hash of one source row under its owner: `v` = version, `d` = canonical row JSON or '' for a
     * tombstone, `o` = owner (user id of a purchase, purchase id of a payment). A purchase also holds its
     * entry fragments (`e`, `t`, `k`), and `pay` / `payv` / `paye`: the id of its payment, the version
     * that set that pointer and the payment's part of the entry.
     */
    userRow: (userId: string, table: UserTable, id: string) => `${user(userId)}:row:${table}:${id}`,
    /** Common prefix of every per-user key (the near cache watches it for changes). */
    userPrefix: `${prefix}:{u:`,
    /** Sorted set of the user's purchase ids, score = created_at in µs since the epoch. */
    userPurchases: (userId: string) => `${user(userId)}:purchases`,
    /**
     * Hash of the user's rendered package entries: purchase id → `<package id>\x01<entry JSON up to
     * the package name>` (see scripts.ts). Written only by the apply script, with the index.
     */
    userEntries: (userId: string) => `${user(userId)}:entries`,
    /** A package row (catalog slot). */
    packageRow: (id: string) => `${prefix}:{catalog}:${G}:row:packages:${id}`,
    /** Common prefix of the package rows. */
    packageRowPrefix: `${prefix}:{catalog}:${G}:row:packages:`,
    /** Hash of package id → its name as a JSON string, spliced into entries at read time. */
    catalogNames: `${prefix}:{catalog}:${G}:names`,
    /**
     * The ready marker of one hash slot: present once Redis holds everything (written by the rebuild
     * for every slot); absent after a flush of the master that serves the slot.
     */
    ready: (slot: number) => `${readyBase}{${slotTag(slot)}}`,
    /** Common prefix of the ready markers (the near cache watches it). */
    readyPrefix: readyBase,
    /** The ready marker in the slot of a user's keys. */
    readyFor: (userId: string) => `${readyBase}{${slotTag(keySlot(`{u:${userId}}`))}}`,
    /** The applied position of one slot (applied-position.ts). */
    applied: (slot: number) => `${appliedBase}{${slotTag(slot)}}`,
    appliedFor: (userId: string) => `${appliedBase}{${slotTag(keySlot(`{u:${userId}}`))}}`,
    /** The slot of a user's keys. */
    userSlot: (userId: string) => keySlot(`{u:${userId}}`),
    slots: SLOTS,
    /** Consumer bookkeeping (global, one key each). */
    meta: (name: string) => `${prefix}:meta:${name}`,
    /** The user id in a per-user key, or null for any other key. */
    userOf: (key: string): string | null => {
      const start = prefix.length + 4;
      const end = key.indexOf(`}:${G}:`, start);
      return key.startsWith(`${prefix}:{u:`) && end >= start ? key.slice(start, end) : null;
    },
    /** Parses a per-user row key: its user, table and id (null for any other key). */
    rowOf: (key: string): { user: string; table: UserTable; id: string } | null => {
      const start = prefix.length + 4;
      const end = key.indexOf(`}:${G}:row:`, start);
      if (!key.startsWith(`${prefix}:{u:`) || end < start) return null;
      const rest = key.slice(end + `}:${G}:row:`.length);
      const cut = rest.indexOf(':');
      const table = rest.slice(0, cut);
      if (cut < 0 || (table !== 'purchases' && table !== 'payments')) return null;
      return { user: key.slice(start, end), table, id: rest.slice(cut + 1) };
    },
    /** Rate limiter buckets. */
    rate: (scope: string, id: string) => `${prefix}:rl:${scope}:${id}`,
  };
}

/** Glob patterns (SCAN MATCH) of the per-user keys of this layout. */
export function userKeyPattern(prefix: string, suffix: string): string {
  return `${escapeGlob(prefix)}:\\{u:*}:${G}:${suffix}`;
}

export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
