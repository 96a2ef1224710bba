import { readSourceState } from '../core/binlog/source.ts';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import { createPool } from '../core/db/pool.ts';

/**
 * Seconds behind source, kept visible on idle databases: every few seconds the source's binlog end
 * is compared with the acknowledged checkpoint. Caught up → 0; otherwise the age of the newest
 * acknowledged transaction (or of the time since falling behind, if that is all we know).
 */
export function startLagMonitor(opts: {
  mysqlUrl: string;
  acked: () => Checkpoint | null;
  queued: () => number;
  set: (seconds: number) => void;
  intervalMs?: number;
}): { stop: () => Promise<void> } {
  const pool = createPool(opts.mysqlUrl, { connectionLimit: 1 });
  let behindSince: number | undefined;
  const tick = async () => {
    try {
      const source = await readSourceState(pool);
      const acked = opts.acked();
      if (acked && acked.gtid === source.gtid && opts.queued() === 0) {
        behindSince = undefined;
        opts.set(0);
        return;
      }
      behindSince ??= Date.now();
      const since = acked && acked.source_ts_ms > 0 ? Math.min(acked.source_ts_ms, behindSince) : behindSince;
      opts.set(Math.max(0, (Date.now() - since) / 1000));
    } catch {
      // The binlog stream reports source outages; the gauge keeps its last value meanwhile.
    }
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 5000);
  timer.unref();
  void tick();
  return {
    async stop() {
      clearInterval(timer);
      await pool.end().catch(() => undefined);
    },
  };
}
