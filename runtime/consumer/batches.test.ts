import { describe, expect, it } from 'vitest';
import { runBatches } from './batches.ts';

/** 0..n-1 in chunks of `chunk`, with a pause before every `gapEvery`-th item. */
async function* numbers(n: number, gapEvery = 0, chunk = 1) {
  for (let i = 0; i < n; i += chunk) {
    if (gapEvery && i % gapEvery === 0) await new Promise((r) => setTimeout(r, 5));
    yield Array.from({ length: Math.min(chunk, n - i) }, (_, k) => i + k);
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
      yield [1];
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

  it('takes everything that arrived in one batch, up to maxBatch', async () => {
    const seen: number[][] = [];
    const runner = runBatches(numbers(300, 0, 300), {
      maxBatch: 250,
      maxQueued: 1000,
      handle: async (b) => void seen.push(b),
    });
    await runner.done;
    expect(seen.map((b) => b.length)).toEqual([250, 50]);
  });

  it('hands the next batch over while `depth` earlier ones are still being handled, never more', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const runner = runBatches(numbers(40, 0, 40), {
      maxBatch: 5,
      maxQueued: 100,
      depth: 3,
      handle: async (b) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(...b);
        inFlight--;
      },
    });
    await runner.done;
    expect(most).toBe(3);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('starts nothing after a batch failed, and rejects once the others in flight settled', async () => {
    const started: number[] = [];
    let settled = 0;
    const runner = runBatches(numbers(50, 0, 50), {
      maxBatch: 5,
      maxQueued: 100,
      depth: 2,
      handle: async (b) => {
        started.push(b[0] as number);
        await new Promise((r) => setTimeout(r, b[0] === 0 ? 1 : 10));
        settled++;
        if (b[0] === 0) throw new Error('shutdown');
      },
    });
    await expect(runner.done).rejects.toThrow('shutdown');
    expect(started).toEqual([0, 5]);
    expect(settled).toBe(2);
  });
});
