/**
 * Pulls items from an async source into a bounded queue and hands them to `handle` in batches: whatever
 * has arrived while the previous batch was being applied, up to `maxBatch`. No lingering, so an idle
 * pipeline applies each message at once and a busy one amortises round trips. The queue bound gives
 * backpressure: the source is not read while `maxQueued` items wait.
 */
export type BatchRunner = {
  /** Resolves when the source ended or `stop()` was called and the in-flight batch finished. */
  done: Promise<void>;
  /** Stops taking new batches; items read but not handled are dropped (never acknowledged). */
  stop: () => void;
};

export function runBatches<T>(
  source: AsyncIterable<T>,
  opts: { maxBatch: number; maxQueued: number; handle: (batch: T[]) => Promise<void> },
): BatchRunner {
  const queue: T[] = [];
  let stopped = false;
  let ended = false;
  let failure: unknown;
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
      for await (const item of source) {
        if (stopped) return;
        queue.push(item);
        wakeApplier?.();
        wakeApplier = undefined;
        while (queue.length >= opts.maxQueued && !stopped) {
          await new Promise<void>((resolve) => {
            wakePump = resolve;
          });
        }
      }
    } catch (err) {
      failure = err;
    } finally {
      ended = true;
      wake();
    }
  })();

  const done = (async () => {
    for (;;) {
      if (stopped) return;
      if (queue.length === 0) {
        if (ended) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => {
          wakeApplier = resolve;
        });
        continue;
      }
      const batch = queue.splice(0, opts.maxBatch);
      wakePump?.();
      wakePump = undefined;
      await opts.handle(batch);
    }
  })();

  return {
    done,
    stop() {
      stopped = true;
      wake();
    },
  };
}
