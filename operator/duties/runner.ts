import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import type { Logger } from '../../runtime/core/logger.ts';
import { type PipelineSpec, pipelineSpec } from '../api/v1alpha1/spec.ts';
import type { PipelineStatus } from '../api/v1alpha1/status.ts';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import type { ConditionInput } from '../controller/conditions.ts';
import { childName } from '../controller/labels.ts';
import { OPEN_POLICY, type PipelinePolicy, refusal } from '../controller/policy.ts';
import type { EventRecorder } from '../framework/events.ts';
import type { AutoscalingDuty } from './autoscaler/duty.ts';
import type { BinlogDuty } from './binlog/duty.ts';

/** What the duties want the next reconcile to apply and report. */
export type DutyOutcome = {
  consumerReplicas?: number;
  producerReplicas?: 0 | 1;
  status: Pick<PipelineStatus, 'producer' | 'consumer'>;
  conditions: ConditionInput[];
};

export type DutyRunnerOptions = {
  autoscaler?: AutoscalingDuty;
  binlog?: BinlogDuty;
  pipeline: (key: string) => PaymentPipeline | undefined;
  child: (kind: string, key: string) => KubernetesObject | undefined;
  events: EventRecorder;
  log: Logger;
  onChange: (key: string) => void;
  intervalMs: number;
  /** A pipeline the policy refuses gets no duty pass: the binlog duty would connect to its host. */
  policy?: PipelinePolicy;
};

/**
 * Runs the autoscaling and binlog-position duties of every pipeline in the background, one loop per
 * pipeline, so the broker and database round trips never slow down a reconcile. A loop keeps the
 * latest outcome for the reconciler to apply and queues a reconcile whenever it changes.
 */
export class DutyRunner {
  private readonly options: DutyRunnerOptions;
  private readonly loops = new Map<
    string,
    { timer?: NodeJS.Timeout; running?: Promise<void>; outcome?: DutyOutcome }
  >();
  private stopped = false;

  constructor(opts: DutyRunnerOptions) {
    this.options = opts;
  }

  /** The latest outcome for a pipeline (undefined until its first run finished). */
  latest(key: string): DutyOutcome | undefined {
    return this.loops.get(key)?.outcome;
  }

  /** Starts the loop of a pipeline if it is not running yet. */
  track(key: string): void {
    if (this.stopped || this.loops.has(key)) return;
    this.loops.set(key, {});
    this.schedule(key, 0);
  }

  untrack(key: string): void {
    const loop = this.loops.get(key);
    if (loop?.timer) clearTimeout(loop.timer);
    this.loops.delete(key);
    const [namespace = '', name = ''] = key.split('/');
    this.options.autoscaler?.forget({ namespace, name });
    this.options.binlog?.forget({ namespace, name });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.loops.values()].map((l) => {
      if (l.timer) clearTimeout(l.timer);
      return l.running;
    });
    await Promise.allSettled(running);
    this.loops.clear();
  }

  private schedule(key: string, delayMs: number): void {
    const loop = this.loops.get(key);
    if (!loop || this.stopped) return;
    loop.timer = setTimeout(() => {
      loop.running = this.runOnce(key).then(
        (next) => this.schedule(key, next),
        (err: unknown) => {
          this.options.log.warn({ err, key }, 'pipeline duties failed: retrying');
          this.schedule(key, this.options.intervalMs);
        },
      );
    }, delayMs);
    loop.timer.unref();
  }

  /** One pass of both duties; returns the delay until the next pass. */
  private async runOnce(key: string): Promise<number> {
    const pipeline = this.options.pipeline(key);
    const loop = this.loops.get(key);
    if (!pipeline || !loop) return this.options.intervalMs;
    const parsed = pipelineSpec.safeParse(pipeline.spec);
    if (!parsed.success || parsed.data.paused) return this.options.intervalMs;
    if (refusal(parsed.data, this.options.policy ?? OPEN_POLICY)) return this.options.intervalMs;
    const spec: PipelineSpec = parsed.data;
    const ref = { namespace: pipeline.metadata?.namespace ?? '', name: pipeline.metadata?.name ?? '' };
    const deployment = (c: string) =>
      this.options.child('Deployment', `${ref.namespace}/${childName(ref.name, c)}`) as
        | V1Deployment
        | undefined;

    const outcome: DutyOutcome = { status: {}, conditions: [] };
    let nextMs = this.options.intervalMs;
    const generation = pipeline.metadata?.generation ?? 0;
    const events: { type: 'Normal' | 'Warning'; reason: string; note: string; action: string }[] = [];

    if (this.options.binlog) {
      const producer = deployment('producer');
      // This replica is the only writer: its own last procedure state is at least as new as the
      // status in the cache (which trails it until the reconcile has written it).
      const own = loop.outcome?.status.producer?.startFrom;
      const status: PipelineStatus | undefined = own
        ? { ...pipeline.status, producer: { ...pipeline.status?.producer, startFrom: own } }
        : pipeline.status;
      const r = await this.options.binlog.run(ref, spec, status, {
        readyReplicas: producer?.status?.readyReplicas ?? 0,
      });
      outcome.producerReplicas = r.producerReplicas;
      outcome.status.producer = r.status;
      outcome.conditions.push({ ...r.condition, observedGeneration: generation });
      for (const e of r.events) events.push({ ...e, action: 'Position' });
      nextMs = Math.min(nextMs, r.requeueAfterMs);
    }
    if (this.options.autoscaler) {
      const consumer = deployment('consumer');
      const r = await this.options.autoscaler.evaluate(ref, spec, {
        specReplicas: consumer?.spec?.replicas,
        statusReplicas: consumer?.status?.replicas,
        ...(pipeline.status?.consumer?.lastScaleTime
          ? { lastScaleTime: pipeline.status.consumer.lastScaleTime }
          : {}),
      });
      outcome.consumerReplicas = r.replicas;
      outcome.status.consumer = r.status;
      if (r.event) events.push({ ...r.event, action: 'Scale' });
    }

    for (const e of events) await this.options.events.record(pipeline, e.type, e.reason, e.action, e.note);
    const changed = JSON.stringify(outcome) !== JSON.stringify(loop.outcome);
    loop.outcome = outcome;
    if (changed) this.options.onChange(key);
    return nextMs;
  }
}
