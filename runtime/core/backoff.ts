/** Options of a capped exponential backoff. */
export type BackoffOptions = {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay taken off at random (0 = exact delays); 0.2 unless given. */
  jitter?: number;
  random?: () => number;
};

/**
 * Delay before retry number `attempt` (0-based): `baseMs · 2^attempt`, at most `maxMs`, with up to
 * `jitter` of it taken off at random so that many clients retrying the same dependency do not hit
 * it in lockstep. The one backoff formula of the project.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = opts.random ?? Math.random,
): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const jitter = opts.jitter ?? 0.2;
  return jitter === 0 ? ceiling : Math.round(ceiling * (1 - jitter * random()));
}

/** Consecutive failures of one loop and the delay each calls for; reset() after a success. */
export class Backoff {
  private failures = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    this.opts = opts;
  }

  /** The delay before the next attempt, counting this failure. */
  next(): number {
    return backoffDelay(this.failures++, this.opts);
  }

  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (a shutdown must not wait out a backoff). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
