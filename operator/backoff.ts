/** Exponential backoff with jitter, for informer restarts and the work queue's per-key retries. */
export type BackoffOptions = { baseMs: number; maxMs: number; jitter?: number; random?: () => number };

/** Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, ± jitter. */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = opts.jitter ?? 0;
  if (jitter === 0) return exp;
  const r = (opts.random ?? Math.random)();
  return Math.max(0, Math.round(exp * (1 - jitter + 2 * jitter * r)));
}

/** A counter of consecutive failures; reset() after a success. */
export class Backoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    this.opts = opts;
  }

  next(): number {
    this.attempt += 1;
    return backoffDelay(this.attempt, this.opts);
  }

  reset(): void {
    this.attempt = 0;
  }
}
