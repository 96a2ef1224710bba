import { clamp, recommend, replicaBounds } from './recommend.ts';
import { record, type StabilizationWindow, windowMax } from './stabilizer.ts';
import type { LagObservation, ScalePolicy } from './types.ts';

/** What the autoscaler remembers per pipeline between reconciles. */
export type AutoscalerMemory = { window: StabilizationWindow };

export type ScaleReason =
  /** Lag asks for more replicas: applied at once. */
  | 'ScaledUp'
  /** Lag has asked for fewer for a whole window: applied. */
  | 'ScaledDown'
  /** Lag asks for fewer, but a higher recommendation is still inside the window. */
  | 'Stabilizing'
  /** Lag asks for what is running. */
  | 'Steady'
  /** Replicas outside [lower, upper] after a spec or partition change: corrected at once. */
  | 'OutOfBounds'
  | 'NoCommittedOffsets'
  | 'TopicsMissing'
  | 'LagUnavailable';

export type ScaleDecision = {
  desired: number;
  reason: ScaleReason;
  /** The load-driven recommendation before stabilisation (undefined when lag is not known). */
  recommended?: number;
  message: string;
  memory: AutoscalerMemory;
};

/**
 * One autoscaling step. Pure: the caller supplies the clock, the observed lag, the running replica
 * count and the memory of the previous step, and applies `desired` if it differs from `current`.
 *
 * - scale-up is immediate; scale-down only to the highest recommendation of the stabilisation window,
 *   so a lag that hovers around a threshold boundary settles on the higher count instead of flapping;
 * - when lag is unknown (no committed offsets, missing topics, broker down) the current count is held
 *   (within bounds) and nothing is recorded, so an outage neither scales nor ages the window;
 * - with no memory (fresh operator, new leader) the current count is taken as a recommendation made
 *   now, so a restart never shortcuts the window.
 */
export function decide(input: {
  nowMs: number;
  current: number;
  observation: LagObservation;
  policy: ScalePolicy;
  memory: AutoscalerMemory | undefined;
}): ScaleDecision {
  const { nowMs, current, observation, policy } = input;
  const windowMs = policy.scaleDownStabilizationMs;
  const window = input.memory?.window ?? record([], nowMs, current, windowMs);

  if (observation.kind !== 'lag') {
    const partitions =
      observation.kind === 'no-committed-offsets' ? observation.partitions : policy.maxReplicas;
    const desired = clamp(current, replicaBounds(policy, partitions));
    const held = { desired, memory: { window } };
    switch (observation.kind) {
      case 'no-committed-offsets':
        return {
          ...held,
          reason: 'NoCommittedOffsets',
          message: 'consumer group has no committed offsets yet; holding replicas',
        };
      case 'topics-missing':
        return {
          ...held,
          reason: 'TopicsMissing',
          message: `topics missing: ${observation.topics.join(', ')}; holding replicas`,
        };
      case 'unavailable':
        return {
          ...held,
          reason: 'LagUnavailable',
          message: `lag unknown (${observation.message}); holding replicas`,
        };
    }
  }

  const bounds = replicaBounds(policy, observation.partitions);
  const rec = recommend(observation.total, policy, bounds);
  const nextWindow = record(window, nowMs, rec.replicas, windowMs);
  const lagText = `lag ${observation.total} / threshold ${policy.lagThreshold} → ${rec.replicas} (${rec.basis}, bounds ${bounds.lower}..${bounds.upper})`;
  const base = { recommended: rec.replicas, memory: { window: nextWindow } };

  if (current < bounds.lower || current > bounds.upper) {
    const desired = rec.replicas > current ? rec.replicas : clamp(current, bounds);
    return {
      ...base,
      desired,
      reason: 'OutOfBounds',
      message: `${current} replicas outside ${bounds.lower}..${bounds.upper}; ${lagText}`,
    };
  }
  if (rec.replicas > current) return { ...base, desired: rec.replicas, reason: 'ScaledUp', message: lagText };
  if (rec.replicas === current) return { ...base, desired: current, reason: 'Steady', message: lagText };
  const stabilized = Math.min(current, windowMax(nextWindow) ?? rec.replicas);
  if (stabilized < current) return { ...base, desired: stabilized, reason: 'ScaledDown', message: lagText };
  return {
    ...base,
    desired: current,
    reason: 'Stabilizing',
    message: `${lagText}; held by the ${windowMs / 1000}s scale-down window`,
  };
}
