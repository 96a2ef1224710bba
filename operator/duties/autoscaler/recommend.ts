import type { ScalePolicy } from './types.ts';

export type Bounds = { lower: number; upper: number };

/**
 * Replica bounds for a policy and the partition count the broker reports. The upper bound is
 * min(maxReplicas, partitions) — consumers beyond the partition count get no assignment. When the
 * topic has fewer partitions than minReplicas, minReplicas wins: it is the user's explicit
 * availability floor (the extra consumers are hot standbys), so the interval never inverts.
 */
export function replicaBounds(policy: ScalePolicy, partitions: number): Bounds {
  const lower = policy.minReplicas;
  const upper = Math.max(lower, Math.min(policy.maxReplicas, partitions));
  return { lower, upper };
}

export function clamp(n: number, b: Bounds): number {
  return Math.min(b.upper, Math.max(b.lower, n));
}

/** ceil(a / b) for a >= 0, b > 0 in exact integer arithmetic (lag can exceed 2^53). */
export function ceilDiv(a: bigint, b: bigint): bigint {
  if (a < 0n || b <= 0n) throw new RangeError(`ceilDiv needs a >= 0 and b > 0 (got ${a} / ${b})`);
  return (a + b - 1n) / b;
}

export type Recommendation = {
  replicas: number;
  /** Why this number: the lag formula, a bound that capped it, or lag below activation. */
  basis: 'lag' | 'min' | 'max' | 'below-activation';
};

/** The load-driven replica count for a total lag, before stabilisation. */
export function recommend(totalLag: bigint, policy: ScalePolicy, bounds: Bounds): Recommendation {
  if (totalLag <= BigInt(policy.activationLag)) return { replicas: bounds.lower, basis: 'below-activation' };
  const raw = ceilDiv(totalLag, BigInt(policy.lagThreshold));
  // Compare as bigint before converting: a huge lag must not lose precision or overflow Number.
  if (raw >= BigInt(bounds.upper))
    return { replicas: bounds.upper, basis: raw === BigInt(bounds.upper) ? 'lag' : 'max' };
  if (raw <= BigInt(bounds.lower))
    return { replicas: bounds.lower, basis: raw === BigInt(bounds.lower) ? 'lag' : 'min' };
  return { replicas: Number(raw), basis: 'lag' };
}
