import { describe, expect, it } from 'vitest';
import type { PartitionLag } from '../../../runtime/core/kafka/types.ts';
import { lagByTopic, readGroupLag, summarize } from './lag-reader.ts';

const p = (topic: string, partition: number, end: bigint, committed: bigint): PartitionLag => ({
  topic,
  partition,
  end,
  committed,
  lag: committed < 0n ? end : end - committed,
});

describe('summarize', () => {
  it('reports missing topics explicitly', () => {
    expect(summarize(['a', 'b'], [])).toEqual({ kind: 'topics-missing', topics: ['a', 'b'] });
  });
  it('a group with nothing committed anywhere is its own state', () => {
    expect(summarize(['a'], [p('a', 0, 10n, -1n), p('a', 1, 5n, -1n)])).toEqual({
      kind: 'no-committed-offsets',
      partitions: 2,
    });
  });
  it('sums lag over topics and takes the widest topic as the partition bound', () => {
    const parts = [p('a', 0, 10n, 4n), p('a', 1, 5n, 5n), p('a', 2, 7n, -1n), p('b', 0, 100n, 1n)];
    expect(summarize(['a', 'b'], parts)).toEqual({
      kind: 'lag',
      total: 6n + 0n + 7n + 99n,
      partitions: 3,
      uncommittedPartitions: 1,
    });
    expect(lagByTopic(parts)).toEqual(
      new Map([
        ['a', 13n],
        ['b', 99n],
      ]),
    );
  });
});

describe('readGroupLag', () => {
  it('turns a broker error into an unavailable observation', async () => {
    const admin = {
      consumerLag: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')),
    };
    const r = await readGroupLag(admin, 'g', ['a']);
    expect(r.observation).toEqual({ kind: 'unavailable', message: 'connect ECONNREFUSED 127.0.0.1:1' });
  });
});
