import type { Redis } from 'ioredis';
import { raiseAppliedPosition } from '../core/cache/applied-position.ts';
import type { Logger } from '../core/logger.ts';
import type { DecodedChange } from './decode.ts';

/**
 * After each applied batch: raises Redis's applied position to the batch's newest change. Issued once
 * the batch is in Redis, so the marker never names a change Redis lacks; not awaited (the next batch
 * need not wait for it, and a lost update is made good by the next batch).
 */
export function appliedPositionRecorder(redis: Redis, prefix: string, log: Logger) {
  return (changes: readonly DecodedChange[]): void => {
    let newest: DecodedChange | undefined;
    // Snapshot rows name no transaction: the marker moves with streamed changes (and the rebuild).
    for (const c of changes) if (c.gtid !== null && (!newest || c.version > newest.version)) newest = c;
    if (!newest?.gtid) return;
    raiseAppliedPosition(redis, prefix, newest.version, newest.gtid).catch((err: unknown) =>
      log.warn({ err }, 'recording the applied position failed'),
    );
  };
}
