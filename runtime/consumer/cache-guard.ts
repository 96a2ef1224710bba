import type { CacheWriter } from '../core/cache/writer.ts';
import type { Logger } from '../core/logger.ts';

/**
 * Keeps Redis complete: when the ready marker is missing (new Redis, or flushed while running) it runs
 * the rebuild from MySQL. The rebuild is safe alongside the live stream (version CAS), so consuming
 * continues meanwhile; readers answer `miss` (→ MySQL) until it finishes.
 */
export function startCacheGuard(opts: {
  writer: CacheWriter;
  rebuild: () => Promise<unknown>;
  log: Logger;
  intervalMs?: number;
}): { stop: () => Promise<void>; check: () => Promise<void> } {
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const check = (): Promise<void> => {
    inFlight ??= (async () => {
      try {
        if (stopped || (await opts.writer.isReady())) return;
        opts.log.warn('Redis is not materialised (new or flushed): rebuilding from MySQL');
        const result = await opts.rebuild();
        opts.log.info({ result }, 'rebuild finished');
      } catch (err) {
        opts.log.error({ err }, 'rebuild failed; will retry');
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
  const timer = setInterval(() => void check(), opts.intervalMs ?? 5000);
  timer.unref();
  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
