import { describe, expect, it } from 'vitest';
import { dropAbortedBatches, type FetchedBatch } from './aborted.ts';

const TX = 1 << 4;
const CONTROL = 1 << 5;
const marker = (type: 0 | 1) => {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(type, 2);
  return key;
};
const data = (offset: number, producerId: number, n = 1, transactional = true): FetchedBatch => ({
  firstOffset: BigInt(offset),
  lastOffsetDelta: n - 1,
  attributes: transactional ? TX : 0,
  producerId: BigInt(producerId),
  records: Array.from({ length: n }, () => ({ key: Buffer.from('k') })),
});
const control = (offset: number, producerId: number, type: 0 | 1): FetchedBatch => ({
  firstOffset: BigInt(offset),
  lastOffsetDelta: 0,
  attributes: TX | CONTROL,
  producerId: BigInt(producerId),
  records: [{ key: marker(type) }],
});
const kept = (batches: FetchedBatch[]) =>
  batches.filter((b) => !(b.attributes & CONTROL) && b.records.length > 0).map((b) => Number(b.firstOffset));

describe('dropAbortedBatches', () => {
  it('drops every aborted transaction of one producer id, not only the last', () => {
    // committed, aborted, aborted, aborted, committed: all from producer 7 (re-initialised id).
    const records = [
      data(0, 7),
      control(1, 7, 1),
      data(2, 7),
      control(3, 7, 0),
      data(4, 7, 2),
      control(6, 7, 0),
      data(7, 7),
      control(8, 7, 0),
      data(9, 7),
      control(10, 7, 1),
    ];
    const abortedTransactions = [2, 4, 7].map((o) => ({ producerId: 7n, firstOffset: BigInt(o) }));
    expect(dropAbortedBatches({ records, abortedTransactions })).toBe(4);
    expect(kept(records)).toEqual([0, 9]);
    // The batches stay, so the fetch position still moves past them.
    expect(records).toHaveLength(10);
  });

  it('drops an aborted transaction whose abort marker is not in this response', () => {
    const records = [data(0, 3), control(1, 3, 1), data(2, 3), data(3, 3)];
    expect(dropAbortedBatches({ records, abortedTransactions: [{ producerId: 3n, firstOffset: 2n }] })).toBe(
      2,
    );
    expect(kept(records)).toEqual([0]);
  });

  it('keeps interleaved committed transactions of other producers and non-transactional batches', () => {
    const records = [
      data(0, 1),
      data(1, 2),
      data(2, 0, 1, false),
      control(3, 1, 0),
      data(4, 2),
      control(5, 2, 1),
    ];
    expect(dropAbortedBatches({ records, abortedTransactions: [{ producerId: 1n, firstOffset: 0n }] })).toBe(
      1,
    );
    expect(kept(records)).toEqual([1, 2, 4]);
  });

  it('leaves a response without aborted transactions alone', () => {
    const records = [data(0, 1), control(1, 1, 1)];
    expect(dropAbortedBatches({ records, abortedTransactions: null })).toBe(0);
    expect(dropAbortedBatches({ records, abortedTransactions: [] })).toBe(0);
    expect(kept(records)).toEqual([0]);
  });
});
