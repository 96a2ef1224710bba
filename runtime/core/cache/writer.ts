import type { Redis } from 'ioredis';
import { packageNameFragment, paymentFragment, purchaseFragments } from './entries.ts';
import { cacheKeys } from './keys.ts';
import { isNoScript } from './lua.ts';
import { type CachedTable, type CanonicalRow, microsOfIso } from './rows.ts';
import { applyChangeScript, dropVersionScript } from './scripts.ts';

/** One versioned change of a cached row, already in canonical form. */
export type RowChange = {
  table: CachedTable;
  id: string;
  version: string;
  /** The row after the change; null for a delete (a tombstone is written). */
  after: CanonicalRow | null;
  /** The row before a delete: names the owner (user or purchase) whose links are removed. */
  before: CanonicalRow | null;
};

/**
 * Writes row changes to Redis through the version-guarded apply script, pipelined: a batch is one
 * round trip. Each change is atomic on its own; the batch is not, and need not be, because every
 * change is idempotent and order-independent (a stale change is a no-op).
 */
export class CacheWriter {
  private readonly redis: Redis;
  private readonly keys: ReturnType<typeof cacheKeys>;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.keys = cacheKeys(prefix);
  }

  async load(): Promise<void> {
    await applyChangeScript.load(this.redis);
    await dropVersionScript.load(this.redis);
  }

  /**
   * Drops a row's version and a purchase's payment pointer if they still equal what was observed
   * (see dropVersionScript); the caller then writes the row from MySQL. True when anything was dropped.
   */
  async dropVersion(
    table: CachedTable,
    id: string,
    observed: { version: string | null; pointerVersion: string | null },
  ): Promise<boolean> {
    const reply = await dropVersionScript.run(
      this.redis,
      [this.keys.row(table, id)],
      [observed.version ?? '', observed.pointerVersion ?? ''],
    );
    return reply === 1;
  }

  /** Marks Redis as complete (after a rebuild): readers answer from it from now on. */
  async markReady(snapshotGtid: string | null): Promise<void> {
    await this.redis.set(
      this.keys.ready,
      JSON.stringify({ gtid: snapshotGtid, at: new Date().toISOString() }),
    );
  }

  async isReady(): Promise<boolean> {
    return (await this.redis.exists(this.keys.ready)) === 1;
  }

  /** Applies the batch; `true` per change that was newer than Redis (and therefore written). */
  async apply(changes: readonly RowChange[]): Promise<boolean[]> {
    if (changes.length === 0) return [];
    try {
      return await this.applyOnce(changes);
    } catch (err) {
      // Redis restarted or SCRIPT FLUSH: reload and replay the whole batch (every change is idempotent).
      if (!isNoScript(err)) throw err;
      await this.load();
      return this.applyOnce(changes);
    }
  }

  private async applyOnce(changes: readonly RowChange[]): Promise<boolean[]> {
    const pipeline = this.redis.pipeline();
    for (const change of changes) {
      const { keys, args } = this.invocation(change);
      applyChangeScript.queue(pipeline, keys, args);
    }
    const results = (await pipeline.exec()) ?? [];
    if (results.length !== changes.length) throw new Error('Redis pipeline returned a short reply');
    return results.map(([err, applied]) => {
      if (err) throw err;
      return applied === 1;
    });
  }

  private invocation(change: RowChange): { keys: string[]; args: (string | number)[] } {
    const { table, id, version, after, before } = change;
    const row = this.keys.row(table, id);
    const data = after === null ? '' : JSON.stringify(after);
    const image = after ?? before;
    const args = (kind: string, ownerKey: string, owner: string, score: number, fragments: string[]) => ({
      keys: [row, ownerKey],
      args: [version, data, kind, owner, score, id, this.keys.prefix, ...fragments],
    });
    if (table === 'purchases' && image) {
      const user = String(image.user_id);
      const score = after ? microsOfIso(String(after.created_at)) : 0;
      const fragments = after ? purchaseFragments(after) : ['', '', ''];
      return args('purchase', this.keys.userPurchases(user), user, score, fragments);
    }
    if (table === 'payments' && image) {
      const purchase = String(image.purchase_id);
      const fragments = [after ? paymentFragment(after) : ''];
      return args('payment', this.keys.row('purchases', purchase), purchase, 0, fragments);
    }
    if (table === 'packages') {
      return args('package', this.keys.catalogNames, '', 0, [after ? packageNameFragment(after) : '']);
    }
    if (!image) throw new Error(`${table} ${id}: a delete needs the row's before image to find its owner`);
    return args('row', row, '', 0, []);
  }
}
