/** Latency summary of a set of samples in milliseconds. */
export type Summary = { n: number; p50: number; p90: number; p99: number; max: number };

export function summarise(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

/**
 * Fires `fire()` `rate` times per second for `seconds`, with at most `maxInFlight` outstanding; when the
 * system cannot keep up the achieved rate drops (and is reported) instead of queueing without bound.
 */
export async function paced(
  rate: number,
  seconds: number,
  maxInFlight: number,
  fire: (i: number) => Promise<void>,
): Promise<{ issued: number; achievedPerSecond: number }> {
  const started = performance.now();
  const total = Math.round(rate * seconds);
  let issued = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    while (issued < due && inFlight < maxInFlight) {
      inFlight++;
      const p = fire(issued++).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    if (performance.now() - started > seconds * 1000 * 1.5) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return { issued, achievedPerSecond: issued / ((performance.now() - started) / 1000) };
}
