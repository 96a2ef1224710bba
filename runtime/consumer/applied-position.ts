import { raiseAppliedPosition } from '../core/cache/applied-position.ts';
import { cacheKeys } from '../core/cache/keys.ts';
import type { Logger } from '../core/logger.ts';
import type { RedisClient } from '../core/redis/client.ts';
import type { DecodedChange } from './decode.ts';

/**
 * After each applied batch: raises the applied position of every slot the batch touched to the newest
 * change of that slot. Issued once the batch is in Redis, so a marker never names a change Redis lacks;
 * not awaited (the next batch need not wait for it, and a lost update is made good by the next batch).
 */
export function appliedPositionRecorder(redis: RedisClient, prefix: string, log: Logger) {
  const keys = cacheKeys(prefix);
  return (changes: readonly DecodedChange[]): void => {
    const newest = new Map<number, { version: DecodedChange['version']; gtid: string }>();
    for (const c of changes) {
      // Snapshot rows name no transaction: the markers move with streamed changes (and the rebuild).
      if (c.gtid === null) continue;
      for (const row of [c.after, c.before]) {
        if (!row || c.table === 'packages') continue;
        const slot = keys.userSlot(String(row.user_id));
        const seen = newest.get(slot);
        if (!seen || c.version > seen.version) newest.set(slot, { version: c.version, gtid: c.gtid });
      }
    }
    for (const [slot, c] of newest) {
      raiseAppliedPosition(redis, prefix, c.version, c.gtid, [slot]).catch((err: unknown) =>
        log.warn({ err }, 'recording the applied position failed'),
      );
    }
  };
}
