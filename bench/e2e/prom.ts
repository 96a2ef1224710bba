/** Histogram buckets of one metric (optionally one label value) from a Prometheus text endpoint. */
export type Buckets = Map<number, number>;

export async function scrapeHistogram(url: string, metric: string, labelFilter = ''): Promise<Buckets> {
  const text = await fetch(url).then((r) => r.text());
  const buckets: Buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`) || !line.includes(labelFilter)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + count);
  }
  return buckets;
}

/** Upper bucket bound (ms) under which `q` of the observations between two scrapes fall. */
export function bucketQuantileMs(before: Buckets, after: Buckets, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const b of bounds) {
    if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= q * total) return b * 1000;
  }
  return Number.POSITIVE_INFINITY;
}
