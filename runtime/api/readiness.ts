import type { Pool } from '../core/db/pool.ts';
import type { RedisClient } from '../core/redis/client.ts';

export type ReadinessProbe = () => Promise<boolean>;

/**
 * /readyz's answer: MySQL and Redis both answer within `timeoutMs`, and shutdown has not begun.
 * Probes are cheap whoever sends them and however often: one check at a time (concurrent probes
 * share it) and its result is reused for `cacheMs`, so the probe costs at most one pool query and one
 * PING per `cacheMs` instead of a pool connection per request. Shutdown turns it false at once.
 */
export function createReadinessProbe(deps: {
  pool: Pool;
  redis: RedisClient;
  isStopping?: () => boolean;
  cacheMs?: number;
  timeoutMs?: number;
  now?: () => number;
}): ReadinessProbe {
  const cacheMs = deps.cacheMs ?? 1000;
  const timeoutMs = deps.timeoutMs ?? 1000;
  const now = deps.now ?? Date.now;
  let last: { ready: boolean; at: number } | null = null;
  let inFlight: Promise<boolean> | null = null;

  const check = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const answer = Promise.all([deps.pool.query('SELECT 1'), deps.redis.ping()]).then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return async () => {
    if (deps.isStopping?.()) return false;
    if (last && now() - last.at < cacheMs) return last.ready;
    if (!inFlight) {
      inFlight = check().then((ready) => {
        last = { ready, at: now() };
        inFlight = null;
        return ready;
      });
    }
    const ready = await inFlight;
    return ready && !deps.isStopping?.();
  };
}
