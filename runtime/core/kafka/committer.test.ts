import { describe, expect, it } from 'vitest';
import { createCommitter, type PartitionOffset } from './committer.ts';

const at = (partition: number, offset: number): PartitionOffset => ({
  topic: 't',
  partition,
  offset: BigInt(offset),
  leaderEpoch: 0,
});
const show = (offsets: PartitionOffset[]) => offsets.map((o) => `p${o.partition}@${o.offset}`);

/** A send whose requests the test answers one by one. */
function manualSend() {
  const requests: { offsets: string[]; answer: (err?: Error) => void }[] = [];
  const send = (offsets: PartitionOffset[]) =>
    new Promise<void>((resolve, reject) => {
      requests.push({ offsets: show(offsets), answer: (err) => (err ? reject(err) : resolve()) });
    });
  return { send, requests };
}

describe('createCommitter', () => {
  it('keeps one request in flight and merges what arrives meanwhile into the next, highest first', async () => {
    const { send, requests } = manualSend();
    const commit = createCommitter(send);
    const first = commit([at(0, 3)]);
    const second = commit([at(0, 9), at(1, 2)]);
    const third = commit([at(0, 5)]); // lower than the queued 9: must not win
    expect(requests.map((r) => r.offsets)).toEqual([['p0@3']]);
    requests[0]?.answer();
    await first;
    await Promise.resolve();
    expect(requests.map((r) => r.offsets)).toEqual([['p0@3'], ['p0@9', 'p1@2']]);
    requests[1]?.answer();
    await Promise.all([second, third]);
    expect(requests).toHaveLength(2);
  });

  it('rejects the callers of a failed request with its error and goes on with the next', async () => {
    const { send, requests } = manualSend();
    const commit = createCommitter(send);
    const failed = commit([at(0, 3)]);
    const later = commit([at(0, 4)]);
    requests[0]?.answer(new Error('REBALANCE_IN_PROGRESS'));
    await expect(failed).rejects.toThrow('REBALANCE_IN_PROGRESS');
    await Promise.resolve();
    requests[1]?.answer();
    await later;
    expect(requests.map((r) => r.offsets)).toEqual([['p0@3'], ['p0@4']]);
  });

  it('resolves an empty commit at once', async () => {
    const { send, requests } = manualSend();
    await createCommitter(send)([]);
    expect(requests).toEqual([]);
  });
});
