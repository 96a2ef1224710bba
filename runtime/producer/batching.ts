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

/** Bytes a record takes in a record batch (uncompressed; the producer does not compress). */
export function recordBytes(r: OutgoingRecord): number {
  let n = RECORD_OVERHEAD;
  if (r.key !== null) n += Buffer.byteLength(r.key);
  if (r.value !== null) n += Buffer.byteLength(r.value);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 10;
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
 * How many of `items` (from the head) go into the next transaction: at most `maxRecords` records
 * and, per topic, at most `budget(topic)` bytes; the first item always, so a batch is never empty
 * (its records were each checked against the budget beforehand: see the oversized-event path).
 */
export function itemsThatFit(
  items: readonly { records: readonly OutgoingRecord[] }[],
  maxRecords: number,
  budget: (topic: string) => number,
): number {
  const bytes = new Map<string, number>();
  let records = 0;
  let n = 0;
  for (const item of items) {
    const added = new Map<string, number>();
    for (const r of item.records) added.set(r.topic, (added.get(r.topic) ?? 0) + recordBytes(r));
    if (n > 0) {
      if (records + item.records.length > maxRecords) break;
      let fits = true;
      for (const [topic, b] of added) if ((bytes.get(topic) ?? 0) + b > budget(topic)) fits = false;
      if (!fits) break;
    }
    for (const [topic, b] of added) bytes.set(topic, (bytes.get(topic) ?? 0) + b);
    records += item.records.length;
    n++;
  }
  return n;
}
