/**
 * Scale-down stabilisation window: the highest recommendation seen in the last `windowMs`.
 *
 * Kept as a monotonic deque (timestamps ascending, replicas strictly descending): a recommendation
 * that is not higher than a newer one can never again be the window's maximum, so it is dropped.
 * The head is therefore the maximum, and the history stays as short as the number of distinct
 * replica counts — bounded by the partition count however long the window is.
 */
export type WindowEntry = { atMs: number; replicas: number };
export type StabilizationWindow = readonly WindowEntry[];

/** Adds a recommendation at `nowMs` and forgets what fell out of the window (entries exactly windowMs old are out). */
export function record(
  window: StabilizationWindow,
  nowMs: number,
  replicas: number,
  windowMs: number,
): WindowEntry[] {
  const next = window.filter((e) => e.atMs > nowMs - windowMs && e.replicas > replicas);
  next.push({ atMs: nowMs, replicas });
  return next;
}

/** Highest recommendation in the window; undefined when it is empty. */
export function windowMax(window: StabilizationWindow): number | undefined {
  return window[0]?.replicas;
}
