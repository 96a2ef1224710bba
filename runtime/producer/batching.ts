import type { OutgoingRecord } from '../core/kafka/index.ts';

/**
 * Sizing of Kafka transactions by bytes. The broker refuses a partition's record batch larger than
 * the topic's `max.message.bytes` (the broker's `message.max.bytes` unless overridden) with
 * MESSAGE_TOO_LARGE, and retrying the same batch can never succeed; so a transaction carries, per
 * topic, at most that limit minus headroom (a partition's batch is never larger than its topic's
 * share of the transaction).
 */

/** Upper bound of a record's framing in a v2 record batch (length, attributes, deltas, varints). */
const RECORD_OVERHEAD = 32;

const bytesOf = (v: string | Buffer) => (typeof v === 'string' ? Buffer.byteLength(v) : v.length);

/** Bytes a record takes in a record batch (uncompressed; the producer does not compress). */
export function recordBytes(r: OutgoingRecord): number {
  let n = RECORD_OVERHEAD;
  if (r.key !== null) n += bytesOf(r.key);
  if (r.value !== null) n += bytesOf(r.value);
  const headers = r.headers;
  if (headers) for (const k in headers) n += Buffer.byteLength(k) + Buffer.byteLength(headers[k] ?? '') + 10;
  return n;
}

/**
 * Bytes of one topic's records a transaction may carry for a limit: 1/16 of headroom for the batch
 * header and the estimate, scaled by `factor` (lowered when the broker still refuses a batch).
 */
export function budgetOf(limit: number, factor = 1): number {
  return Math.max(1024, Math.floor(((limit * 15) / 16) * factor) - 512);
}

/**
 * How many of `items` (from index `from`) go into the next produce request: at most `maxRecords` records
 * and, per topic, at most `budget(topic)` bytes; the first item always, so a batch is never empty
 * (its records were each checked against the budget beforehand: see the oversized-event path).
 */
export function itemsThatFit(
  items: readonly { records: readonly OutgoingRecord[] }[],
  maxRecords: number,
  budget: (topic: string) => number,
  from = 0,
): number {
  // Per topic: bytes taken so far and its budget (looked up once).
  const taken = new Map<string, { bytes: number; budget: number }>();
  const slot = (topic: string) => {
    let s = taken.get(topic);
    if (!s) {
      s = { bytes: 0, budget: budget(topic) };
      taken.set(topic, s);
    }
    return s;
  };
  let records = 0;
  let n = 0;
  for (let i = from; i < items.length; i++) {
    const item = items[i] as { records: readonly OutgoingRecord[] };
    const rs = item.records;
    if (n > 0 && records + rs.length > maxRecords) break;
    // An item's records share one topic, except after a diversion to the oversized topic.
    const topic = rs[0]?.topic;
    if (rs.every((r) => r.topic === topic)) {
      if (topic !== undefined) {
        const s = slot(topic);
        let b = 0;
        for (const r of rs) b += recordBytes(r);
        if (n > 0 && s.bytes + b > s.budget) break;
        s.bytes += b;
      }
    } else {
      const added = new Map<string, number>();
      for (const r of rs) added.set(r.topic, (added.get(r.topic) ?? 0) + recordBytes(r));
      if (n > 0 && [...added].some(([t, b]) => slot(t).bytes + b > slot(t).budget)) break;
      for (const [t, b] of added) slot(t).bytes += b;
    }
    records += rs.length;
    n++;
  }
  return n;
}
