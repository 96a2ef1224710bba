import { describe, expect, it } from 'vitest';
import { lockName } from './lock.ts';

describe('lockName', () => {
  it('keeps a name that fits as it was', () => {
    expect(lockName('payments')).toBe('payments_producer.payments');
    const longest = 'p'.repeat(64 - 'payments_producer.'.length);
    expect(lockName(longest)).toBe(`payments_producer.${longest}`);
  });

  it('gives long names sharing their start different locks of at most 64 characters, readable', () => {
    const base = 'eu-west-1.payments.production.tenant-with-a-long-name';
    const a = lockName(`${base}.blue`);
    const b = lockName(`${base}.green`);
    expect(a).not.toBe(b);
    for (const n of [a, b, lockName('x'.repeat(100))]) expect(n.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/^payments_producer\.eu-west-1\.payments\.produc~[0-9a-f]{20}$/);
    // Deterministic: every instance of one pipeline computes the same lock.
    expect(lockName(`${base}.blue`)).toBe(a);
    // One character past the plain form's limit already switches to the hashed form.
    const over = 'q'.repeat(64 - 'payments_producer.'.length + 1);
    expect(lockName(over)).not.toBe(lockName(`${over.slice(0, -1)}r`));
  });
});
