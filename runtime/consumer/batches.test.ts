import { describe, expect, it } from 'vitest';
import { runBatches } from './batches.ts';

async function* numbers(n: number, gapEvery = 0) {
  for (let i = 0; i < n; i++) {
    if (gapEvery && i % gapEvery === 0) await new Promise((r) => setTimeout(r, 5));
    yield i;
  }
}

describe('runBatches', () => {
  it('hands every item over once, in order, in batches no larger than maxBatch', async () => {
    const seen: number[][] = [];
    const runner = runBatches(numbers(1000, 100), {
      maxBatch: 64,
      maxQueued: 128,
      handle: async (b) => {
        seen.push(b);
        await new Promise((r) => setTimeout(r, 1));
      },
    });
    await runner.done;
    expect(seen.flat()).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Math.max(...seen.map((b) => b.length))).toBeLessThanOrEqual(64);
    expect(seen.length).toBeLessThan(1000);
  });

  it('stops after the batch in flight and hands over nothing more', async () => {
    const seen: number[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const runner = runBatches(numbers(100, 10), {
      maxBatch: 5,
      maxQueued: 10,
      handle: async (b) => {
        seen.push(...b);
        await gate;
      },
    });
    await new Promise((r) => setTimeout(r, 20));
    runner.stop();
    release();
    await runner.done;
    const count = seen.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.length).toBe(count);
    expect(count).toBeLessThanOrEqual(5);
  });

  it('rejects when the source fails, after handing over what it read', async () => {
    async function* failing() {
      yield 1;
      throw new Error('broker gone');
    }
    const seen: number[] = [];
    const runner = runBatches(failing(), {
      maxBatch: 10,
      maxQueued: 10,
      handle: async (b) => void seen.push(...b),
    });
    await expect(runner.done).rejects.toThrow('broker gone');
    expect(seen).toEqual([1]);
  });
});
