/**
 * Pulls chunks of items from an async source into a bounded queue and hands them to `handle` in
 * batches: everything that has arrived, up to `maxBatch`. No lingering, so an idle pipeline applies each
 * message at once and a busy one amortises round trips. Up to `depth` batches are handled at once (the
 * next one is prepared and sent while the previous one's round trips are under way); `handle` itself
 * keeps what must happen in order (commits) in order. The queue bound gives backpressure: the source is
 * not read while `maxQueued` items wait.
 */
export type BatchRunner = {
  /**
   * Resolves when the source ended or `stop()` was called and the batches in flight finished; rejects
   * with the first failure (of the source or of a batch) once the batches in flight settled.
   */
  done: Promise<void>;
  /** Stops taking new batches; items read but not handled are dropped (never acknowledged). */
  stop: () => void;
};

export function runBatches<T>(
  source: AsyncIterable<readonly T[]>,
  opts: {
    maxBatch: number;
    maxQueued: number;
    /** Most batches handled at once (default 1: one after the other). */
    depth?: number;
    handle: (batch: T[]) => Promise<void>;
  },
): BatchRunner {
  const depth = Math.max(1, opts.depth ?? 1);
  const queue: T[] = [];
  let stopped = false;
  let ended = false;
  /** The source failed: what it delivered before is still handed over. */
  let sourceFailure: { err: unknown } | undefined;
  /** A batch failed: nothing more is started. */
  let batchFailure: { err: unknown } | undefined;
  let wakeApplier: (() => void) | undefined;
  let wakePump: (() => void) | undefined;
  const wake = () => {
    wakeApplier?.();
    wakeApplier = undefined;
    wakePump?.();
    wakePump = undefined;
  };

  void (async () => {
    try {
      for await (const chunk of source) {
        if (stopped) return;
        for (const item of chunk) queue.push(item);
        wakeApplier?.();
        wakeApplier = undefined;
        while (queue.length >= opts.maxQueued && !stopped) {
          await new Promise<void>((resolve) => {
            wakePump = resolve;
          });
        }
      }
    } catch (err) {
      sourceFailure = { err };
    } finally {
      ended = true;
      wake();
    }
  })();

  const inFlight = new Set<Promise<void>>();
  const done = (async () => {
    for (;;) {
      if (stopped || batchFailure) break;
      if (queue.length === 0 && ended) break;
      if (queue.length === 0 || inFlight.size >= depth) {
        await new Promise<void>((resolve) => {
          wakeApplier = resolve;
        });
        continue;
      }
      const batch = queue.splice(0, opts.maxBatch);
      wakePump?.();
      wakePump = undefined;
      const p: Promise<void> = opts
        .handle(batch)
        .catch((err: unknown) => {
          batchFailure ??= { err };
        })
        .finally(() => {
          inFlight.delete(p);
          wakeApplier?.();
          wakeApplier = undefined;
        });
      inFlight.add(p);
    }
    await Promise.all([...inFlight]);
    if (batchFailure) throw batchFailure.err;
    if (sourceFailure && !stopped) throw sourceFailure.err;
  })();

  return {
    done,
    stop() {
      stopped = true;
      wake();
    },
  };
}
