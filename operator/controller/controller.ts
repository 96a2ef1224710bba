import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../runtime/core/logger.ts';
import { PIPELINE_KIND } from '../api/v1alpha1/group.ts';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import type { Duties } from '../duties/factory.ts';
import { podPipelineKey, problemsChanged } from '../duties/pod-health.ts';
import { DutyRunner } from '../duties/runner.ts';
import type { EventRecorder } from '../framework/events.ts';
import { Informer, type ListWatchSource, objectKey } from '../framework/kube/informer.ts';
import { InformerGroup, type ObjectCache } from '../framework/kube/informer-group.ts';
import type { KubeWriter } from '../framework/kube/ports.ts';
import { WorkQueue } from '../framework/workqueue.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { PipelinePolicy } from './policy.ts';
import { Reconciler } from './reconciler.ts';

export const CHILD_KINDS = [
  'Deployment',
  'ConfigMap',
  'Service',
  'PodDisruptionBudget',
  'NetworkPolicy',
] as const;
export type ChildKind = (typeof CHILD_KINDS)[number];

/** One source, or one per watched namespace. */
type Sources<T extends KubernetesObject> = ListWatchSource<T> | readonly ListWatchSource<T>[];

export type ControllerOptions = {
  pipelines: Sources<PaymentPipeline>;
  children: Record<ChildKind, Sources<KubernetesObject>>;
  /** The components' pods (by the managed-by label), for Degraded on failing containers; none when absent. */
  pods?: Sources<V1Pod>;
  writer: KubeWriter;
  events: EventRecorder;
  log: Logger;
  metrics: OperatorMetrics;
  workers?: number;
  resyncMs?: number;
  /** Autoscaling and binlog-position duties (operator/duty-factory.ts); none when absent. */
  duties?: Duties;
  /** Images and MySQL hosts a pipeline may use (operator/policy.ts). */
  policy?: PipelinePolicy;
};

/** The owning PaymentPipeline's key, from a child's controller owner reference. */
export function ownerKey(obj: KubernetesObject): string | undefined {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.kind === PIPELINE_KIND && r.controller);
  return ref ? `${obj.metadata?.namespace}/${ref.name}` : undefined;
}

/**
 * Informers feed a per-key work queue; workers reconcile one pipeline at a time each. A pipeline is
 * queued when its spec (generation) changes, and whenever one of its children changes — which is how
 * hand edits are put back and how Ready follows the Deployments. A periodic resync is the safety net.
 */
export class Controller {
  private readonly options: ControllerOptions;
  private readonly queue = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 120_000 });
  private readonly pipelines: ObjectCache<PaymentPipeline>;
  private readonly children: Map<string, ObjectCache<KubernetesObject>>;
  private readonly pods: ObjectCache<V1Pod> | undefined;
  private readonly reconciler: Reconciler;
  private readonly duties: DutyRunner | undefined;
  private workers: Promise<void>[] = [];
  private resync: NodeJS.Timeout | undefined;

  constructor(opts: ControllerOptions) {
    this.options = opts;
    const onRestart = (resource: string) => () => opts.metrics.informerRestarts.inc({ resource });
    const informers = <T extends KubernetesObject>(resource: string, sources: Sources<T>) =>
      new InformerGroup<T>(
        (Array.isArray(sources) ? sources : [sources]).map(
          (source: ListWatchSource<T>) =>
            new Informer({ resource, source, log: opts.log, onRestart: onRestart(resource) }),
        ),
      );
    this.pipelines = informers(PIPELINE_KIND, opts.pipelines);
    this.children = new Map(CHILD_KINDS.map((kind) => [kind, informers(kind, opts.children[kind])]));
    this.pods = opts.pods ? informers('Pod', opts.pods) : undefined;
    const duties = opts.duties;
    this.duties =
      duties && (duties.autoscaler || duties.binlog)
        ? new DutyRunner({
            ...(duties.autoscaler ? { autoscaler: duties.autoscaler } : {}),
            ...(duties.binlog ? { binlog: duties.binlog } : {}),
            pipeline: (key) => this.pipelines.get(key),
            child: (kind, key) => this.children.get(kind)?.get(key),
            events: opts.events,
            log: opts.log,
            onChange: (key) => this.enqueue(key),
            intervalMs: duties.intervalMs,
            ...(opts.policy ? { policy: opts.policy } : {}),
          })
        : undefined;
    this.reconciler = new Reconciler({
      pipeline: (key) => this.pipelines.get(key),
      child: (kind, key) => this.children.get(kind)?.get(key),
      ...(this.pods ? { pods: () => this.pods?.list() ?? [] } : {}),
      writer: opts.writer,
      events: opts.events,
      log: opts.log,
      metrics: opts.metrics,
      ...(this.duties ? { duties: this.duties } : {}),
      ...(opts.policy ? { policy: opts.policy } : {}),
    });
    this.pipelines.on((type, obj, old) => {
      // Status-only updates (our own writes) do not change the generation: no reconcile for those.
      if (type === 'MODIFIED' && old?.metadata?.generation === obj.metadata?.generation) {
        if (old?.metadata?.deletionTimestamp === obj.metadata?.deletionTimestamp) return;
      }
      this.enqueue(objectKey(obj));
    });
    for (const informer of this.children.values()) {
      informer.on((_type, obj) => {
        const key = ownerKey(obj);
        if (key) this.enqueue(key);
      });
    }
    // Pods change often (every probe flip, every restart): only a change of what Degraded would say
    // about them queues their pipeline.
    this.pods?.on((type, obj, old) => {
      const changed =
        type === 'ADDED'
          ? problemsChanged(undefined, obj)
          : type === 'DELETED'
            ? problemsChanged(obj, undefined)
            : problemsChanged(old, obj);
      const key = podPipelineKey(obj);
      if (changed && key) this.enqueue(key);
    });
  }

  private informers(): ObjectCache<KubernetesObject>[] {
    return [this.pipelines, ...this.children.values(), ...(this.pods ? [this.pods] : [])];
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.options.metrics.queueDepth.set(this.queue.length);
  }

  /** Starts the informers, waits for their first lists, then starts the workers. */
  async start(): Promise<void> {
    const informers = this.informers();
    for (const i of informers) i.start();
    await Promise.all(informers.map((i) => i.waitForSync()));
    this.options.log.info({ pipelines: this.pipelines.list().length }, 'caches synced: reconciling');
    for (let n = 0; n < (this.options.workers ?? 2); n++) this.workers.push(this.work());
    const resyncMs = this.options.resyncMs ?? 10 * 60_000;
    this.resync = setInterval(() => {
      for (const p of this.pipelines.list()) this.enqueue(objectKey(p));
    }, resyncMs);
    this.resync.unref();
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.options.metrics.queueDepth.set(this.queue.length);
      const end = this.options.metrics.reconcileDuration.startTimer();
      try {
        const outcome = await this.reconciler.reconcile(key);
        end({ result: 'success' });
        this.queue.forget(key);
        if (outcome.changed.length > 0)
          this.options.log.info({ key, changed: outcome.changed }, 'reconciled');
        if (outcome.requeueAfterMs) this.queue.addAfter(key, outcome.requeueAfterMs);
      } catch (err) {
        end({ result: 'error' });
        this.options.metrics.reconcileErrors.inc();
        const delayMs = this.queue.addRateLimited(key);
        this.options.log.warn({ key, err, retryInMs: delayMs }, 'reconcile failed: retrying');
      } finally {
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.resync) clearInterval(this.resync);
    for (const i of this.informers()) i.stop();
    this.queue.shutDown();
    await this.duties?.stop();
    await Promise.all(this.workers);
    this.workers = [];
  }
}
