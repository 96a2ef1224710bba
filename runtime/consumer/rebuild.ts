import type { Pool } from 'mysql2/promise';
import { readSourceState } from '../core/binlog/source.ts';
import { raiseAppliedPosition } from '../core/cache/applied-position.ts';
import { CACHED_TABLES, type CachedTable, type CanonicalRow } from '../core/cache/rows.ts';
import type { CacheWriter, RowChange } from '../core/cache/writer.ts';
import { withSourceSnapshot } from '../core/db/snapshot.ts';
import { versionOf } from '../core/position.ts';
import type { RedisClient } from '../core/redis/client.ts';
import { scanCachedRows } from './cached-rows.ts';
import type { Progress } from './progress.ts';
import { countRows, readSourceRows, readSourceRowsWhere } from './source-rows.ts';

export type RebuildResult = {
  gtid: string | null;
  version: string;
  rows: Record<CachedTable, number>;
  applied: number;
  tombstoned: number;
  /** Rows whose cached version (or payment pointer) was beyond the source, rewritten from MySQL. */
  repaired: number;
};

/** Highest row index a version can carry: (seq, this) is at or above every change of transaction seq. */
const LAST_ROW = 9_999_999_999;

/**
 * Repopulates Redis from MySQL without racing the live stream.
 *
 * The snapshot holds at least the source state it reports (openConsistentSnapshot); every snapshot
 * row is written with version (that state's sequence, row 0) through the same
 * compare-and-set as the consumer. A live change newer than the snapshot keeps its place; one the
 * snapshot already contains is either equal (skipped) or re-applied later by the stream with the same
 * final state. Rows Redis holds that the snapshot lacks get a tombstone at the snapshot version (again
 * a CAS, so a row the consumer created meanwhile survives), and so do the copies a user's row left
 * under a user who no longer owns it in the snapshot (an owner change the stream has not brought).
 * Finally every slot is marked ready.
 */
export async function rebuildCache(opts: {
  pool: Pool;
  redis: RedisClient;
  writer: CacheWriter;
  prefix: string;
  batchSize?: number;
  progress: Progress;
  /** Called once the snapshot is open, before any row is read (tests commit changes it cannot see). */
  onSnapshot?: () => Promise<void>;
}): Promise<RebuildResult> {
  const batchSize = opts.batchSize ?? 1000;
  /** Per table: the snapshot's ids, and the owner (user) of each user's row. */
  const seen = new Map<CachedTable, Map<string, string | null>>();
  const result = await withSourceSnapshot(opts.pool, async (conn, { gtid, sequence }) => {
    const version = versionOf(sequence, 0);
    const result: RebuildResult = {
      gtid,
      version,
      rows: { packages: 0, purchases: 0, payments: 0 },
      applied: 0,
      tombstoned: 0,
      repaired: 0,
    };
    await opts.onSnapshot?.();
    for (const table of CACHED_TABLES) {
      const ids = new Map<string, string | null>();
      seen.set(table, ids);
      opts.progress.start(table, await countRows(conn, table));
      for await (const rows of readSourceRows(conn, table, batchSize)) {
        const changes: RowChange[] = rows.map((row) => {
          ids.set(String(row.id), table === 'packages' ? null : String(row.user_id));
          return { table, id: String(row.id), version, after: row, before: null };
        });
        const applied = await opts.writer.apply(changes);
        result.applied += applied.filter(Boolean).length;
        result.rows[table] += rows.length;
        opts.progress.advance(rows.length);
      }
      opts.progress.done();
    }
    return result;
  });
  for (const table of CACHED_TABLES) {
    result.tombstoned += await tombstoneMissing(opts, table, seen.get(table) ?? new Map(), result.version);
  }
  for (const table of CACHED_TABLES) result.repaired += await repairBeyondSource(opts, table);
  await opts.writer.markReady(result.gtid);
  // Redis now holds everything up to the snapshot: the applied position is at least there.
  if (result.gtid !== null) await raiseAppliedPosition(opts.redis, opts.prefix, result.version, result.gtid);
  return result;
}

async function tombstoneMissing(
  opts: { redis: RedisClient; writer: CacheWriter; prefix: string },
  table: CachedTable,
  present: Map<string, string | null>,
  version: string,
): Promise<number> {
  let applied = 0;
  for await (const rows of scanCachedRows(opts.redis, opts.prefix, table)) {
    const stale: RowChange[] = [];
    for (const row of rows) {
      if (!row.data) continue;
      if (present.has(row.id) && present.get(row.id) === row.user) continue;
      stale.push({ table, id: row.id, version, after: null, before: copyImage(row.data, row.user) });
    }
    applied += (await opts.writer.apply(stale)).filter(Boolean).length;
  }
  return applied;
}

/**
 * Rewrites from MySQL every cached row whose version, or a purchase's payment pointer version, lies
 * beyond what the source has produced: only a forged event can have put it there, and the version
 * guard would keep every genuine change (and the snapshot) out of that row forever.
 *
 * "Beyond" is decided against a source position read *after* the row was observed, so a genuine
 * version cannot be mistaken for one (it was committed before Redis had it). The observed values are
 * dropped only if still equal (dropVersionScript), then the row is written as MySQL has it now, at the
 * version (a position read before that read, last row), which every later genuine change exceeds; a
 * row MySQL does not have becomes a tombstone. A purchase whose pointer was dropped gets its payments
 * written again, which sets the pointer and re-renders its entry.
 */
async function repairBeyondSource(
  opts: { pool: Pool; redis: RedisClient; writer: CacheWriter; prefix: string },
  table: CachedTable,
): Promise<number> {
  let repaired = 0;
  const position = async () => (await readSourceState(opts.pool)).sequence;
  for await (const rows of scanCachedRows(opts.redis, opts.prefix, table)) {
    const ceiling = versionOf(await position(), LAST_ROW);
    for (const row of rows) {
      const forgedVersion = row.version !== null && row.version > ceiling ? row.version : null;
      const forgedPointer =
        row.pointerVersion !== null && row.pointerVersion > ceiling ? row.pointerVersion : null;
      if (forgedVersion === null && forgedPointer === null) continue;
      if (
        !(await opts.writer.dropVersion(table, row.id, row.user, {
          version: forgedVersion,
          pointerVersion: forgedPointer,
        }))
      )
        continue;
      const version = versionOf(await position(), LAST_ROW);
      const [current] = await readSourceRowsWhere(opts.pool, table, 'id', row.id);
      const changes: RowChange[] = [];
      // The copy's own image: a copy under a user MySQL no longer names becomes a tombstone there.
      const before = row.data ? copyImage(row.data, row.user) : null;
      if (current || before) changes.push({ table, id: row.id, version, after: current ?? null, before });
      if (table === 'purchases' && forgedPointer !== null) {
        for (const payment of await readSourceRowsWhere(opts.pool, 'payments', 'purchase_id', row.id))
          changes.push({ table: 'payments', id: String(payment.id), version, after: payment, before: null });
      }
      await opts.writer.apply(changes);
      repaired++;
    }
  }
  return repaired;
}

/** A cached copy's row image, with the user it is kept under (its slot) as the owner. */
function copyImage(data: string, user: string | null): CanonicalRow {
  const row = JSON.parse(data) as CanonicalRow;
  return user === null ? row : { ...row, user_id: user };
}
