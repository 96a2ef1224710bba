import { describe, expect, it } from 'vitest';
import { ceilDiv, recommend, replicaBounds } from './recommend.ts';
import type { ScalePolicy } from './types.ts';

const policy = (p: Partial<ScalePolicy> = {}): ScalePolicy => ({
  minReplicas: 1,
  maxReplicas: 6,
  lagThreshold: 1000,
  activationLag: 0,
  scaleDownStabilizationMs: 300_000,
  ...p,
});

const rec = (lag: bigint, p: Partial<ScalePolicy> = {}, partitions = 6) => {
  const pol = policy(p);
  return recommend(lag, pol, replicaBounds(pol, partitions));
};

describe('ceilDiv', () => {
  it('rounds up only when there is a remainder', () => {
    expect(ceilDiv(0n, 7n)).toBe(0n);
    expect(ceilDiv(1n, 7n)).toBe(1n);
    expect(ceilDiv(7n, 7n)).toBe(1n);
    expect(ceilDiv(8n, 7n)).toBe(2n);
    expect(ceilDiv(14n, 7n)).toBe(2n);
    expect(ceilDiv(15n, 7n)).toBe(3n);
  });
  it('is exact beyond 2^53', () => {
    expect(ceilDiv(2n ** 60n + 1n, 2n ** 59n)).toBe(3n);
  });
  it('rejects a negative dividend and a non-positive divisor', () => {
    expect(() => ceilDiv(-1n, 1n)).toThrow(RangeError);
    expect(() => ceilDiv(1n, 0n)).toThrow(RangeError);
  });
});

describe('replicaBounds', () => {
  it('caps the upper bound at the partition count', () => {
    expect(replicaBounds(policy({ maxReplicas: 10 }), 4)).toEqual({ lower: 1, upper: 4 });
  });
  it('caps the upper bound at maxReplicas when partitions are plentiful', () => {
    expect(replicaBounds(policy({ maxReplicas: 3 }), 12)).toEqual({ lower: 1, upper: 3 });
  });
  it('lets minReplicas win when the topic has fewer partitions', () => {
    expect(replicaBounds(policy({ minReplicas: 3, maxReplicas: 6 }), 2)).toEqual({ lower: 3, upper: 3 });
  });
});

describe('recommend', () => {
  it('lag 0 → minReplicas', () => {
    expect(rec(0n)).toEqual({ replicas: 1, basis: 'below-activation' });
    expect(rec(0n, { minReplicas: 2 })).toEqual({ replicas: 2, basis: 'below-activation' });
  });
  it('lag exactly at a multiple of the threshold does not round up', () => {
    expect(rec(1000n).replicas).toBe(1);
    expect(rec(2000n).replicas).toBe(2);
    expect(rec(3000n).replicas).toBe(3);
  });
  it('one message over a multiple adds a replica', () => {
    expect(rec(1001n).replicas).toBe(2);
    expect(rec(2001n).replicas).toBe(3);
  });
  it('threshold 1: one replica per message of lag', () => {
    expect(rec(1n, { lagThreshold: 1 }).replicas).toBe(1);
    expect(rec(5n, { lagThreshold: 1 }).replicas).toBe(5);
    expect(rec(6n, { lagThreshold: 1 })).toEqual({ replicas: 6, basis: 'lag' });
    expect(rec(7n, { lagThreshold: 1 })).toEqual({ replicas: 6, basis: 'max' });
  });
  it('minReplicas above the computed value wins', () => {
    expect(rec(1500n, { minReplicas: 4 })).toEqual({ replicas: 4, basis: 'min' });
    expect(rec(4000n, { minReplicas: 4 })).toEqual({ replicas: 4, basis: 'lag' });
  });
  it('maxReplicas above the partition count is capped by partitions', () => {
    expect(rec(10_000n, { maxReplicas: 8 }, 3)).toEqual({ replicas: 3, basis: 'max' });
  });
  it('a lag beyond 2^53 is capped without precision loss', () => {
    expect(rec(2n ** 64n)).toEqual({ replicas: 6, basis: 'max' });
  });
  it('lag at the activation threshold does not activate; one more does', () => {
    expect(rec(5000n, { activationLag: 5000 })).toEqual({ replicas: 1, basis: 'below-activation' });
    expect(rec(5001n, { activationLag: 5000 })).toEqual({ replicas: 6, basis: 'lag' });
  });
});
