import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../runtime/core/logger.ts';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../api/v1alpha1/group.ts';
import { type PipelineSpec, pipelineSpec } from '../api/v1alpha1/spec.ts';
import type { PipelineCondition, PipelineStatus } from '../api/v1alpha1/status.ts';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import { producerReplicasFromStatus } from '../duties/binlog/duty.ts';
import { pipelineProblems } from '../duties/pod-health.ts';
import type { DutyRunner } from '../duties/runner.ts';
import type { EventRecorder } from '../framework/events.ts';
import { isInvalid, isNotFound } from '../framework/kube/http.ts';
import { objectKey } from '../framework/kube/informer.ts';
import type { KubeWriter } from '../framework/kube/ports.ts';
import { AppliedChildren } from './applied.ts';
import { desiredChildren, networkPolicy, type PipelineRef, serviceMonitor } from './children.ts';
import { assess, type ConditionInput, rolloutOf, setCondition } from './conditions.ts';
import { childName } from './labels.ts';
import type { OperatorMetrics } from './metrics.ts';
import { OPEN_POLICY, type PipelinePolicy, type Refusal, refusal } from './policy.ts';

export type ReconcilerDeps = {
  pipeline: (key: string) => PaymentPipeline | undefined;
  /** The informer cache of a child kind, by namespace/name. */
  child: (kind: string, key: string) => KubernetesObject | undefined;
  /** The informer cache of the components' pods (matched by labels); no pod checks when absent. */
  pods?: () => V1Pod[];
  writer: KubeWriter;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  /** Autoscaling and binlog-position duties, run in the background (operator/duties.ts). */
  duties?: DutyRunner;
  /** Images and MySQL hosts a pipeline may use (operator/policy.ts); everything when absent. */
  policy?: PipelinePolicy;
  now?: () => Date;
};

export type ReconcileOutcome = {
  action: 'absent' | 'invalid' | 'refused' | 'paused' | 'applied';
  changed: string[];
  requeueAfterMs?: number;
};

const MONITORING_RETRY_MS = 5 * 60_000;
const RECREATE_RETRY_MS = 500;

/** Reads "ns/name" → applies the desired children → writes conditions. One pass, idempotent. */
export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly now: () => Date;
  private readonly applied = new AppliedChildren();

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const pipeline = this.deps.pipeline(key);
    // Deleted: the garbage collector removes the children through their owner references.
    if (!pipeline || pipeline.metadata?.deletionTimestamp) {
      this.deps.duties?.untrack(key);
      this.applied.forget(key);
      return { action: 'absent', changed: [] };
    }
    const generation = pipeline.metadata?.generation ?? 0;
    const parsed = pipelineSpec.safeParse(pipeline.spec);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`)
        .join('; ');
      await this.deps.events.record(pipeline, 'Warning', 'InvalidSpec', 'Validate', message);
      await this.writeStatus(pipeline, [
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message, observedGeneration: generation },
        {
          type: 'Progressing',
          status: 'False',
          reason: 'InvalidSpec',
          message,
          observedGeneration: generation,
        },
        { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message, observedGeneration: generation },
      ]);
      return { action: 'invalid', changed: [] };
    }
    const spec = parsed.data;
    const ref: PipelineRef = {
      name: pipeline.metadata?.name ?? '',
      namespace: pipeline.metadata?.namespace ?? '',
      uid: pipeline.metadata?.uid ?? '',
    };
    const refused = refusal(spec, this.deps.policy ?? OPEN_POLICY);
    if (refused) return this.refused(pipeline, key, generation, refused);
    if (spec.paused) return this.paused(pipeline, ref, generation);

    const specSeen = pipeline.status?.observedGeneration === generation;
    const changed: string[] = [];
    const errors: string[] = [];
    let retry = false; // a failed apply that backoff may fix (not a missing monitoring CRD)
    let requeueAfterMs: number | undefined;
    // Children are independent: apply them concurrently (one round trip of latency, not eight).
    this.deps.duties?.track(key);
    const duty = this.deps.duties?.latest(key);
    const replicas = {
      consumerReplicas: duty?.consumerReplicas ?? this.consumerReplicas(ref, spec),
      // Before the first duty pass (e.g. a new leader), a startFrom change in progress keeps the producer stopped.
      producerReplicas: duty?.producerReplicas ?? producerReplicasFromStatus(pipeline.status),
    };
    // A replica count the duties changed is scaling, not drift (the duties record their own Events).
    const dutyScaled = new Set([childName(ref.name, 'consumer'), childName(ref.name, 'producer')]);
    const scaled = (child: KubernetesObject, before: KubernetesObject | undefined) =>
      duty !== undefined &&
      child.kind === 'Deployment' &&
      dutyScaled.has(child.metadata?.name ?? '') &&
      (before as V1Deployment | undefined)?.spec?.replicas !== (child as V1Deployment).spec?.replicas;
    const desired = desiredChildren(ref, spec, replicas);
    await Promise.all(
      desired.map(async (child) => {
        const id = `${child.kind}/${child.metadata?.name}`;
        const before = this.deps.child(child.kind ?? '', objectKey(child));
        const manifest = JSON.stringify(child);
        if (this.applied.unchanged(key, id, manifest, before?.metadata?.resourceVersion)) return;
        try {
          const after = await this.deps.writer.apply(child);
          this.applied.record(key, id, manifest, after.metadata?.resourceVersion);
          if (before?.metadata?.resourceVersion === after.metadata?.resourceVersion) return;
          const change = !before
            ? 'created'
            : scaled(child, before)
              ? 'scaled'
              : specSeen
                ? 'drift'
                : 'updated';
          changed.push(id);
          this.deps.metrics?.childChanges.inc({ kind: child.kind ?? '', change });
          if (change === 'scaled') return;
          if (change === 'drift') {
            await this.deps.events.record(
              pipeline,
              'Normal',
              'DriftCorrected',
              'Apply',
              `${id} was changed by hand; put back`,
            );
          } else {
            await this.deps.events.record(
              pipeline,
              'Normal',
              change === 'created' ? 'Created' : 'Updated',
              'Apply',
              id,
            );
          }
        } catch (err) {
          if (before && isInvalid(err)) {
            // Apply cannot remove fields another manager owns (say, a port added by hand), and the merge
            // of theirs and ours can be invalid. Such a child cannot be put back in place: recreate it.
            await this.deps.writer.delete(child);
            this.applied.forgetChild(key, id);
            this.deps.metrics?.childChanges.inc({ kind: child.kind ?? '', change: 'recreated' });
            await this.deps.events.record(
              pipeline,
              'Warning',
              'Recreating',
              'Delete',
              `${id} was edited into a state apply cannot correct (${(err as Error).message}); deleted to recreate it`,
            );
            changed.push(id);
            requeueAfterMs = RECREATE_RETRY_MS;
            return;
          }
          if (child.kind === 'ServiceMonitor' && isNotFound(err)) {
            errors.push(
              'ServiceMonitor requested but monitoring.coreos.com/v1 is not installed in the cluster',
            );
            requeueAfterMs ??= MONITORING_RETRY_MS;
            return;
          }
          errors.push(`${id}: ${(err as Error).message}`);
          retry = true;
        }
      }),
    );
    changed.sort();
    if (!spec.monitoring.serviceMonitor && !specSeen) await this.pruneServiceMonitor(ref, spec, errors);
    if (!spec.networkPolicy.enabled) await this.pruneNetworkPolicy(ref, spec, errors, changed);

    const applyError = errors.length > 0 ? errors.join('; ') : undefined;
    if (applyError) await this.deps.events.record(pipeline, 'Warning', 'ApplyFailed', 'Apply', applyError);
    const a = assess(this.rollouts(ref), generation, applyError, this.problems(ref));
    const status = this.replicaStatus(ref, spec);
    await this.writeStatus(pipeline, [a.ready, a.progressing, a.degraded, ...(duty?.conditions ?? [])], {
      ...status,
      producer: { ...duty?.status.producer, ...status.producer },
      consumer: { ...duty?.status.consumer, ...status.consumer, desiredReplicas: replicas.consumerReplicas },
    });
    // A monitoring gap is reported and retried slowly; any other failed apply is retried with backoff.
    if (applyError && retry) throw new Error(applyError);
    return { action: 'applied', changed, ...(requeueAfterMs ? { requeueAfterMs } : {}) };
  }

  /** Until the autoscaler (issue 7) decides, the consumer keeps what it has within [min, max]. */
  private consumerReplicas(ref: PipelineRef, spec: PipelineSpec): number {
    const live = this.deployment(ref, 'consumer')?.spec?.replicas;
    const c = spec.consumer;
    return Math.min(c.maxReplicas, Math.max(c.minReplicas, live ?? c.minReplicas));
  }

  /**
   * A spec the policy does not allow: nothing is applied (children already running keep the spec
   * they were given) and the duties stop, so neither the pods nor the operator use its image or host.
   */
  private async refused(
    pipeline: PaymentPipeline,
    key: string,
    generation: number,
    r: Refusal,
  ): Promise<ReconcileOutcome> {
    this.deps.duties?.untrack(key);
    await this.deps.events.record(pipeline, 'Warning', r.reason, 'Validate', r.message);
    const condition = { reason: r.reason, message: r.message, observedGeneration: generation };
    await this.writeStatus(pipeline, [
      { type: 'Ready', status: 'False', ...condition },
      { type: 'Progressing', status: 'False', ...condition },
      { type: 'Degraded', status: 'True', ...condition },
    ]);
    return { action: 'refused', changed: [] };
  }

  private async paused(
    pipeline: PaymentPipeline,
    ref: PipelineRef,
    generation: number,
  ): Promise<ReconcileOutcome> {
    const wasPaused = pipeline.status?.conditions?.some(
      (c) => c.type === 'Progressing' && c.reason === 'Paused',
    );
    if (!wasPaused) {
      await this.deps.events.record(
        pipeline,
        'Normal',
        'Paused',
        'Pause',
        'spec.paused is true: children are left as they are',
      );
    }
    const a = assess(this.rollouts(ref), generation, undefined, this.problems(ref));
    await this.writeStatus(pipeline, [
      a.ready,
      {
        type: 'Progressing',
        status: 'False',
        reason: 'Paused',
        message: 'spec.paused is true: children are not reconciled',
        observedGeneration: generation,
      },
      a.degraded,
    ]);
    return { action: 'paused', changed: [] };
  }

  private async pruneServiceMonitor(ref: PipelineRef, spec: PipelineSpec, errors: string[]): Promise<void> {
    try {
      await this.deps.writer.delete(serviceMonitor(ref, spec));
    } catch (err) {
      if (!isNotFound(err)) errors.push(`ServiceMonitor cleanup: ${(err as Error).message}`);
    }
  }

  /** A NetworkPolicy the spec no longer asks for (the informer sees it) is deleted. */
  private async pruneNetworkPolicy(
    ref: PipelineRef,
    spec: PipelineSpec,
    errors: string[],
    changed: string[],
  ): Promise<void> {
    const policy = networkPolicy(ref, spec);
    if (!this.deps.child('NetworkPolicy', objectKey(policy))) return;
    try {
      await this.deps.writer.delete(policy);
      changed.push(`NetworkPolicy/${policy.metadata?.name}`);
    } catch (err) {
      if (!isNotFound(err)) errors.push(`NetworkPolicy cleanup: ${(err as Error).message}`);
    }
  }

  private deployment(ref: PipelineRef, component: string): V1Deployment | undefined {
    return this.deps.child('Deployment', `${ref.namespace}/${childName(ref.name, component)}`) as
      | V1Deployment
      | undefined;
  }

  private problems(ref: PipelineRef) {
    return this.deps.pods ? pipelineProblems(ref.name, ref.namespace, this.deps.pods()) : [];
  }

  private rollouts(ref: PipelineRef) {
    return (['producer', 'consumer', 'api'] as const).map((c) => rolloutOf(c, this.deployment(ref, c)));
  }

  private replicaStatus(ref: PipelineRef, spec: PipelineSpec): Partial<PipelineStatus> {
    const producer = this.deployment(ref, 'producer');
    const consumer = this.deployment(ref, 'consumer');
    const api = this.deployment(ref, 'api');
    return {
      producer: { readyReplicas: producer?.status?.readyReplicas ?? 0 },
      consumer: {
        desiredReplicas: this.consumerReplicas(ref, spec),
        currentReplicas: consumer?.status?.replicas ?? 0,
        readyReplicas: consumer?.status?.readyReplicas ?? 0,
      },
      api: { replicas: api?.status?.replicas ?? 0, readyReplicas: api?.status?.readyReplicas ?? 0 },
    };
  }

  /** Writes status only when it differs, so a status write does not cause another write. */
  private async writeStatus(
    pipeline: PaymentPipeline,
    conditions: ConditionInput[],
    extra: Partial<PipelineStatus> = {},
  ): Promise<void> {
    const now = this.now();
    const old = pipeline.status ?? {};
    let next: PipelineCondition[] = old.conditions ?? [];
    for (const c of conditions) next = setCondition(next, c, now);
    const producer = { ...old.producer, ...extra.producer };
    const consumer = { ...old.consumer, ...extra.consumer };
    // An empty object is left out: applied as {} over fields this manager owned, the server
    // turns it into null, which the schema refuses (a refused or paused pipeline has none).
    const { producer: _p, consumer: _c, ...rest } = { ...old, ...extra };
    const status: PipelineStatus = {
      ...rest,
      ...(Object.keys(producer).length > 0 ? { producer } : {}),
      ...(Object.keys(consumer).length > 0 ? { consumer } : {}),
      observedGeneration: pipeline.metadata?.generation ?? 0,
      conditions: next,
    };
    if (JSON.stringify(canonical(status)) === JSON.stringify(canonical(old))) return;
    try {
      await this.deps.writer.applyStatus({
        apiVersion: PIPELINE_API_VERSION,
        kind: PIPELINE_KIND,
        metadata: { name: pipeline.metadata?.name, namespace: pipeline.metadata?.namespace },
        status,
      });
    } catch (err) {
      // Deleted between the cache read and this write: there is nothing left to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Key-sorted copy, so equal statuses compare equal whatever order the server returned fields in. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => [k, canonical(x)]),
  );
}
