import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from './lifecycle.ts';

const silent = pino({ level: 'silent' });

describe('Lifecycle', () => {
  it('runs hooks once, in order, even when shutdown is requested twice', async () => {
    const calls: string[] = [];
    const lc = new Lifecycle(silent);
    lc.onShutdown('stop intake', () => {
      calls.push('intake');
    });
    lc.onShutdown('drain', async () => {
      await new Promise((r) => setTimeout(r, 10));
      calls.push('drain');
    });
    lc.onShutdown('close', () => {
      calls.push('close');
    });
    await Promise.all([lc.shutdown(), lc.shutdown()]);
    expect(calls).toEqual(['intake', 'drain', 'close']);
    expect(lc.isStopping).toBe(true);
  });

  it('keeps going after a failing hook and reports the failure', async () => {
    const calls: string[] = [];
    const lc = new Lifecycle(silent);
    lc.onShutdown('broken', () => {
      throw new Error('boom');
    });
    lc.onShutdown('close', () => {
      calls.push('close');
    });
    await expect(lc.shutdown()).rejects.toThrow(/errors/);
    expect(calls).toEqual(['close']);
  });
});
