import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, sleep } from './backoff.ts';

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap, jitter taking at most 20% off', () => {
    const opts = { baseMs: 100, maxMs: 5000 };
    expect([0, 1, 2, 3, 5, 6, 50, 5000].map((a) => backoffDelay(a, opts, () => 0))).toEqual([
      100, 200, 400, 800, 3200, 5000, 5000, 5000,
    ]);
    expect(backoffDelay(3, opts, () => 1)).toBe(640);
  });
});

describe('sleep', () => {
  it('returns at once when aborted', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const slept = sleep(10_000, abort.signal);
    abort.abort();
    await slept;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('Backoff', () => {
  it('counts consecutive failures and starts over after reset()', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 500, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 500]);
    expect(b.attempts).toBe(4);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('takes at most the jitter fraction off', () => {
    expect(backoffDelay(0, { baseMs: 100, maxMs: 500, jitter: 0.5, random: () => 1 })).toBe(50);
    expect(backoffDelay(0, { baseMs: 100, maxMs: 500, jitter: 0.5, random: () => 0 })).toBe(100);
  });
});
