import { describe, expect, it } from 'vitest';
import { withTimeout } from './timeout.ts';

describe('withTimeout', () => {
  it('answers with the promise when it settles in time, and with the error otherwise', async () => {
    await expect(withTimeout(Promise.resolve(7), 50, () => new Error('late'))).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('own')), 50, () => new Error('late'))).rejects.toThrow(
      'own',
    );
    const never = new Promise<number>(() => {});
    await expect(withTimeout(never, 20, () => new Error('late'))).rejects.toThrow('late');
  });
});
