import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  afterEach(() => vi.useRealTimers());

  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands a key to two workers: an add during processing requeues it after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
  });

  it('retries failures with doubling delays until forget()', () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    expect(q.addRateLimited('k')).toBe(10);
    vi.advanceTimersByTime(10);
    expect(q.length).toBe(1);
    expect(q.addRateLimited('k')).toBe(20);
    expect(q.addRateLimited('j')).toBe(10);
    expect(q.retries('k')).toBe(2);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(10);
    for (let i = 0; i < 5; i++) q.addRateLimited('m');
    expect(q.retries('m')).toBe(5);
    expect(q.addRateLimited('m')).toBe(50);
  });

  it('releases waiting workers with undefined on shutdown', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.shutDown();
    expect(await next).toBeUndefined();
    q.add('late');
    expect(q.length).toBe(0);
  });
});
