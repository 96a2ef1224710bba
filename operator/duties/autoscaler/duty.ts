import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import type { PipelineStatus } from '../../api/v1alpha1/status.ts';
import { consumedTopics, consumerGroup } from '../../controller/naming.ts';
import { type AutoscalerMemory, decide, type ScaleDecision, type ScaleReason } from './decide.ts';
import type { GroupLag } from './lag-reader.ts';
import type { AutoscalerMetrics } from './metrics.ts';
import type { ScalePolicy } from './types.ts';

export type PipelineKey = { namespace: string; name: string };

/** Consumer group and topics of a pipeline: the CONSUMER_GROUP its pods get and the topics they read. */
export function consumerGroupOf(spec: PipelineSpec): { groupId: string; topics: string[] } {
  return { groupId: consumerGroup(spec), topics: consumedTopics(spec) };
}

export function policyOf(spec: PipelineSpec, activationLag = 0): ScalePolicy {
  const c = spec.consumer;
  return {
    minReplicas: c.minReplicas,
    maxReplicas: c.maxReplicas,
    lagThreshold: c.lagThreshold,
    activationLag,
    scaleDownStabilizationMs: c.scaleDownStabilizationSeconds * 1000,
  };
}

export type AutoscaleResult = {
  /** Replicas for the consumer Deployment. */
  replicas: number;
  decision: ScaleDecision;
  status: NonNullable<PipelineStatus['consumer']>;
  /** Set when the replica count changes or the lag state changes (not on every evaluation). */
  event?: { type: 'Normal' | 'Warning'; reason: string; note: string };
};

const LAG_STATE = {
  lag: 'Known',
  'no-committed-offsets': 'NoCommittedOffsets',
  'topics-missing': 'TopicsMissing',
  unavailable: 'Unavailable',
} as const;

const HOLD_REASONS: ReadonlySet<ScaleReason> = new Set([
  'NoCommittedOffsets',
  'TopicsMissing',
  'LagUnavailable',
]);

/**
 * The autoscaler as the reconciler sees it: one call per reconcile and pipeline. Keeps the
 * stabilisation memory per pipeline (lost on restart by design: decide() then seeds the window with
 * the running count, so a new leader never scales down early).
 */
export function createAutoscalingDuty(deps: {
  lagOf: (spec: PipelineSpec) => Promise<GroupLag>;
  metrics?: AutoscalerMetrics;
  activationLag?: number;
  now?: () => number;
}) {
  const memory = new Map<string, AutoscalerMemory & { lastReason?: ScaleReason }>();
  const now = deps.now ?? Date.now;
  const id = (k: PipelineKey) => `${k.namespace}/${k.name}`;

  return {
    async evaluate(
      key: PipelineKey,
      spec: PipelineSpec,
      current: {
        specReplicas: number | undefined;
        statusReplicas: number | undefined;
        lastScaleTime?: string;
      },
    ): Promise<AutoscaleResult> {
      const { observation } = await deps.lagOf(spec);
      const nowMs = now();
      const running = current.specReplicas ?? spec.consumer.minReplicas;
      const mem = memory.get(id(key));
      const decision = decide({
        nowMs,
        current: running,
        observation,
        policy: policyOf(spec, deps.activationLag),
        memory: mem,
      });
      memory.set(id(key), { ...decision.memory, lastReason: decision.reason });
      deps.metrics?.observe(key.namespace, key.name, decision, running, observation);

      const changed = decision.desired !== running;
      const lastScaleTime = changed
        ? new Date(nowMs).toISOString().replace(/\.\d+Z$/, 'Z')
        : current.lastScaleTime;
      const status: AutoscaleResult['status'] = {
        desiredReplicas: decision.desired,
        currentReplicas: current.statusReplicas ?? 0,
        lagState: LAG_STATE[observation.kind],
        ...(observation.kind === 'lag' ? { lag: clampInt(observation.total) } : {}),
        ...(lastScaleTime ? { lastScaleTime } : {}),
      };
      let event: AutoscaleResult['event'];
      if (changed) {
        deps.metrics?.scaled(key.namespace, key.name, decision.desired > running ? 'up' : 'down');
        event = {
          type: 'Normal',
          reason: decision.desired > running ? 'ScaledUp' : 'ScaledDown',
          note: `consumer ${running} → ${decision.desired} replicas: ${decision.message}`,
        };
      } else if (HOLD_REASONS.has(decision.reason) && mem?.lastReason !== decision.reason) {
        event = {
          type: decision.reason === 'NoCommittedOffsets' ? 'Normal' : 'Warning',
          reason: decision.reason,
          note: decision.message,
        };
      }
      return { replicas: decision.desired, decision, status, ...(event ? { event } : {}) };
    },
    forget(key: PipelineKey) {
      memory.delete(id(key));
      deps.metrics?.forget(key.namespace, key.name);
    },
  };
}

export type AutoscalingDuty = ReturnType<typeof createAutoscalingDuty>;

/** status.consumer.lag is an int64 in the CRD; a JS number is exact up to 2^53, far beyond any real lag. */
function clampInt(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}
