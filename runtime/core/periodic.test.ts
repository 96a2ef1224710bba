import { afterEach, describe, expect, it, vi } from 'vitest';
import { periodic } from './periodic.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('periodic', () => {
  it('never overlaps passes, reports a failed one and goes on, and stop() waits for the pass running', async () => {
    vi.useFakeTimers();
    let release = () => {};
    let passes = 0;
    const errors: unknown[] = [];
    const loop = periodic(
      () => {
        passes++;
        if (passes === 1) return Promise.reject(new Error('boom'));
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      (err) => errors.push(err),
    );
    loop.start(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(passes).toBe(1);
    expect(errors).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100); // the second pass starts and hangs
    await vi.advanceTimersByTimeAsync(500); // its turns are skipped meanwhile
    expect(passes).toBe(2);
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(passes).toBe(2); // no pass after stop
  });
});
