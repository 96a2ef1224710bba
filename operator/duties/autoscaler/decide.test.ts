import { describe, expect, it } from 'vitest';
import { type AutoscalerMemory, decide, type ScaleDecision } from './decide.ts';
import type { LagObservation, ScalePolicy } from './types.ts';

const policy: ScalePolicy = {
  minReplicas: 1,
  maxReplicas: 6,
  lagThreshold: 1000,
  activationLag: 0,
  scaleDownStabilizationMs: 300_000,
};
const lag = (total: bigint, partitions = 6): LagObservation => ({
  kind: 'lag',
  total,
  partitions,
  uncommittedPartitions: 0,
});

/** Drives decide() like the reconciler does: applies each decision and carries the memory forward. */
function run(steps: { atMs: number; obs: LagObservation }[], start = 1, p: ScalePolicy = policy) {
  let current = start;
  let memory: AutoscalerMemory | undefined;
  const decisions: ScaleDecision[] = [];
  for (const s of steps) {
    const d = decide({ nowMs: s.atMs, current, observation: s.obs, policy: p, memory });
    decisions.push(d);
    current = d.desired;
    memory = d.memory;
  }
  return { current, decisions };
}

describe('decide', () => {
  it('scales up at once to ceil(lag / threshold)', () => {
    const d = decide({ nowMs: 0, current: 1, observation: lag(4500n), policy, memory: undefined });
    expect(d).toMatchObject({ desired: 5, reason: 'ScaledUp', recommended: 5 });
  });

  it('scales up only as far as the partitions allow', () => {
    const d = decide({ nowMs: 0, current: 1, observation: lag(50_000n, 3), policy, memory: undefined });
    expect(d).toMatchObject({ desired: 3, reason: 'ScaledUp' });
  });

  it('holds a scale-down until the window has passed, then drops to the window maximum', () => {
    const w = policy.scaleDownStabilizationMs;
    const { decisions } = run([
      { atMs: 0, obs: lag(5000n) },
      { atMs: 1000, obs: lag(0n) },
      { atMs: w - 1, obs: lag(0n) },
      { atMs: w, obs: lag(0n) },
    ]);
    expect(decisions.map((d) => [d.desired, d.reason])).toEqual([
      [5, 'ScaledUp'],
      [5, 'Stabilizing'],
      [5, 'Stabilizing'],
      [1, 'ScaledDown'],
    ]);
  });

  it('steps down through intermediate recommendations still inside the window', () => {
    const w = policy.scaleDownStabilizationMs;
    const { decisions } = run([
      { atMs: 0, obs: lag(5000n) },
      { atMs: 100_000, obs: lag(3000n) },
      { atMs: 200_000, obs: lag(0n) },
      { atMs: w, obs: lag(0n) },
      { atMs: 100_000 + w, obs: lag(0n) },
    ]);
    expect(decisions.map((d) => d.desired)).toEqual([5, 5, 5, 3, 1]);
  });

  it('window 0 scales down immediately', () => {
    const { decisions } = run(
      [
        { atMs: 0, obs: lag(5000n) },
        { atMs: 1, obs: lag(0n) },
      ],
      1,
      { ...policy, scaleDownStabilizationMs: 0 },
    );
    expect(decisions.map((d) => d.desired)).toEqual([5, 1]);
  });

  it('does not flap when lag hovers around a threshold boundary', () => {
    const steps = Array.from({ length: 600 }, (_, i) => ({
      atMs: i * 1000,
      obs: lag(i % 2 === 0 ? 1900n : 2100n),
    }));
    const { decisions } = run(steps);
    const changes = decisions.filter((d, i) => d.desired !== (i === 0 ? 1 : decisions[i - 1]?.desired));
    expect(changes.map((d) => d.desired)).toEqual([2, 3]);
    expect(decisions.at(-1)?.desired).toBe(3);
  });

  it('a fresh memory (operator restart) does not shortcut the window', () => {
    const d = decide({ nowMs: 10_000_000, current: 4, observation: lag(0n), policy, memory: undefined });
    expect(d).toMatchObject({ desired: 4, reason: 'Stabilizing' });
  });

  it('no committed offsets is an explicit state that holds replicas and records nothing', () => {
    const first = decide({ nowMs: 0, current: 5, observation: lag(5000n), policy, memory: undefined });
    const d = decide({
      nowMs: 1_000_000,
      current: 5,
      observation: { kind: 'no-committed-offsets', partitions: 6 },
      policy,
      memory: first.memory,
    });
    expect(d).toMatchObject({ desired: 5, reason: 'NoCommittedOffsets' });
    expect(d.recommended).toBeUndefined();
    expect(d.memory).toEqual(first.memory);
  });

  it('missing topics and an unreachable broker hold replicas', () => {
    const missing = decide({
      nowMs: 0,
      current: 2,
      observation: { kind: 'topics-missing', topics: ['p.db.t'] },
      policy,
      memory: undefined,
    });
    expect(missing).toMatchObject({ desired: 2, reason: 'TopicsMissing' });
    const down = decide({
      nowMs: 0,
      current: 2,
      observation: { kind: 'unavailable', message: 'ECONNREFUSED' },
      policy,
      memory: undefined,
    });
    expect(down).toMatchObject({ desired: 2, reason: 'LagUnavailable' });
    expect(down.message).toContain('ECONNREFUSED');
  });

  it('puts replicas back inside the bounds at once after a spec change', () => {
    const above = decide({
      nowMs: 0,
      current: 6,
      observation: lag(6000n),
      policy: { ...policy, maxReplicas: 4 },
      memory: undefined,
    });
    expect(above).toMatchObject({ desired: 4, reason: 'OutOfBounds' });
    const below = decide({
      nowMs: 0,
      current: 1,
      observation: lag(0n),
      policy: { ...policy, minReplicas: 2 },
      memory: undefined,
    });
    expect(below).toMatchObject({ desired: 2, reason: 'OutOfBounds' });
  });

  it('lag exactly at the threshold for the running count is steady', () => {
    const d = decide({ nowMs: 0, current: 3, observation: lag(3000n), policy, memory: undefined });
    expect(d).toMatchObject({ desired: 3, reason: 'Steady' });
  });
});
