import { isCluster, type RedisClient, retryRedirects } from '../redis/client.ts';
import { SLOTS } from '../redis/slots.ts';
import { packageNameFragment, paymentFragment, purchaseFragments } from './entries.ts';
import { cacheKeys } from './keys.ts';
import { type CachedTable, type CanonicalRow, microsOfIso } from './rows.ts';
import { applyChangeScript, dropVersionScript } from './scripts.ts';

/** One versioned change of a cached row, already in canonical form. */
export type RowChange = {
  table: CachedTable;
  id: string;
  version: string;
  /** The row after the change; null for a delete (a tombstone is written). */
  after: CanonicalRow | null;
  /**
   * The row before the change when known (always for a delete; an update's, from the event): names
   * the owner a row moves away from, whose copy becomes a tombstone.
   */
  before: CanonicalRow | null;
};

/** Ready markers asked for per EXISTS on a single server. */
const READY_CHUNK = 2048;

/** One call of the apply script: its keys share one hash tag (one slot). */
type Call = { keys: string[]; args: (string | number)[] };

/**
 * Writes row changes to Redis through the version-guarded apply script. A change is one call per slot
 * it touches: the row under its owner, and, when it moves away from a user (owner change, delete), a
 * tombstone under the old owner. All calls of a batch are sent at once (auto-pipelined per node on a
 * cluster). Each call is atomic on its own; the batch is not, and need not be, because every call is
 * idempotent and order-independent (a stale one is a no-op).
 *
 * An owner change is applied new owner and old owner side by side, each under its own version guard:
 * until both calls are done (one batch, one round trip) the row may be listed for both users, never for
 * neither; a failed batch is applied again (its offsets are not committed), so the window is bounded by
 * the batch's retries.
 */
export class CacheWriter {
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof cacheKeys>;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.keys = cacheKeys(prefix);
  }

  async load(): Promise<void> {
    await applyChangeScript.load(this.redis);
    await dropVersionScript.load(this.redis);
  }

  /**
   * Drops a row copy's version and a purchase's payment pointer if they still equal what was observed
   * (see dropVersionScript); the caller then writes the row from MySQL. True when anything was dropped.
   * `user`: the owner the copy is kept under (null for a package).
   */
  async dropVersion(
    table: CachedTable,
    id: string,
    user: string | null,
    observed: { version: string | null; pointerVersion: string | null },
  ): Promise<boolean> {
    const key = table === 'packages' ? this.keys.packageRow(id) : this.keys.userRow(String(user), table, id);
    const reply = await dropVersionScript.run(
      this.redis,
      [key],
      [observed.version ?? '', observed.pointerVersion ?? ''],
    );
    return reply === 1;
  }

  /** Marks Redis as complete (after a rebuild), slot by slot: readers answer from it from now on. */
  async markReady(snapshotGtid: string | null): Promise<void> {
    const value = JSON.stringify({ gtid: snapshotGtid, at: new Date().toISOString() });
    const writes: Promise<unknown>[] = [];
    for (let slot = 0; slot < SLOTS; slot++)
      writes.push(retryRedirects(() => this.redis.set(this.keys.ready(slot), value)));
    await Promise.all(writes);
  }

  /** True when every slot's ready marker is there (a flush of any master makes it false). */
  async isReady(): Promise<boolean> {
    if (isCluster(this.redis)) return (await this.missingSlots(1)).length === 0;
    // One server holds every marker: a few multi-key EXISTS instead of one command per slot (the
    // consumer asks every few seconds; 16,384 commands each time cost it and Redis real CPU).
    const counts: Promise<number>[] = [];
    for (let from = 0; from < SLOTS; from += READY_CHUNK) {
      const keys = Array.from({ length: Math.min(READY_CHUNK, SLOTS - from) }, (_, i) =>
        this.keys.ready(from + i),
      );
      counts.push(this.redis.exists(...keys));
    }
    return (await Promise.all(counts)).reduce((a, b) => a + b, 0) === SLOTS;
  }

  /** Slots whose ready marker is missing (at most `limit`). */
  async missingSlots(limit = SLOTS): Promise<number[]> {
    const checks: Promise<number>[] = [];
    for (let slot = 0; slot < SLOTS; slot++)
      checks.push(retryRedirects(() => this.redis.exists(this.keys.ready(slot))));
    const found = await Promise.all(checks);
    const missing: number[] = [];
    for (let slot = 0; slot < SLOTS && missing.length < limit; slot++)
      if (found[slot] === 0) missing.push(slot);
    return missing;
  }

  /** Applies the batch; `true` per change that was newer than Redis (and therefore written). */
  async apply(changes: readonly RowChange[]): Promise<boolean[]> {
    if (changes.length === 0) return [];
    return Promise.all(
      changes.map(async (change) => {
        const [primary, ...others] = this.calls(change);
        const replies = await Promise.all([primary, ...others].map((c) => this.call(c as Call)));
        return replies[0] === 1;
      }),
    );
  }

  /** One call; a payment whose copy names an undeclared previous purchase is called again with it. */
  private async call(call: Call): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const reply = await retryRedirects(() => applyChangeScript.run(this.redis, call.keys, call.args));
      if (!Array.isArray(reply)) return reply;
      const previous = String(reply[1]);
      const user = this.keys.rowOf(String(call.keys[0]))?.user;
      if (reply[0] !== 'previous' || user === undefined || attempt > 2)
        throw new Error(`unexpected apply reply ${JSON.stringify(reply)}`);
      call.keys[3] = this.keys.userRow(user, 'purchases', previous);
      call.args[7] = previous;
    }
  }

  private calls(change: RowChange): Call[] {
    const { table, id, version, after, before } = change;
    const data = after === null ? '' : JSON.stringify(after);
    if (table === 'packages') {
      const fragment = after ? packageNameFragment(after) : '';
      return [
        {
          keys: [this.keys.packageRow(id), this.keys.catalogNames],
          args: [version, data, 'package', '', 0, id, fragment],
        },
      ];
    }
    const image = after ?? before;
    if (!image) throw new Error(`${table} ${id}: a delete needs the row's before image to find its owner`);
    const calls: Call[] = [];
    const userOf = (row: CanonicalRow) => String(row.user_id);
    // The old owner's copy becomes a tombstone when the row leaves that user (or is deleted).
    const leaves = before !== null && (after === null || userOf(before) !== userOf(after));
    if (table === 'purchases') {
      const purchase = (user: string, rowData: string, score: number, fragments: string[]): Call => ({
        keys: [
          this.keys.userRow(user, 'purchases', id),
          this.keys.userPurchases(user),
          this.keys.userEntries(user),
        ],
        args: [version, rowData, 'purchase', user, score, id, ...fragments],
      });
      if (after) {
        calls.push(
          purchase(userOf(after), data, microsOfIso(String(after.created_at)), purchaseFragments(after)),
        );
      }
      if (leaves && before) calls.push(purchase(userOf(before), '', 0, ['', '', '']));
      return calls;
    }
    const payment = (
      user: string,
      purchaseId: string,
      previous: string,
      rowData: string,
      part: string,
    ): Call => ({
      keys: [
        this.keys.userRow(user, 'payments', id),
        this.keys.userRow(user, 'purchases', purchaseId),
        this.keys.userEntries(user),
        this.keys.userRow(user, 'purchases', previous),
      ],
      args: [version, rowData, 'payment', purchaseId, 0, id, part, previous],
    });
    if (after) {
      const user = userOf(after);
      const purchaseId = String(after.purchase_id);
      // Moved to another purchase of the same user: that purchase loses its pointer in the same call.
      const previous =
        before && userOf(before) === user && String(before.purchase_id) !== purchaseId
          ? String(before.purchase_id)
          : purchaseId;
      calls.push(payment(user, purchaseId, previous, data, paymentFragment(after)));
    }
    if (leaves && before) {
      const purchaseId = String(before.purchase_id);
      calls.push(payment(userOf(before), purchaseId, purchaseId, '', ''));
    }
    return calls;
  }
}
