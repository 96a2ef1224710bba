import type { KubernetesObject, V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/core/logger.ts';
import type { PipelineSpecInput } from '../api/v1alpha1/spec.ts';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import { EventRecorder } from '../framework/events.ts';
import { KubeApiError } from '../framework/kube/http.ts';
import { objectKey } from '../framework/kube/informer.ts';
import type { KubeWriter } from '../framework/kube/ports.ts';
import { componentLabels } from './labels.ts';
import type { PipelinePolicy } from './policy.ts';
import { Reconciler } from './reconciler.ts';

const spec: PipelineSpecInput = {
  image: 'payment-pipeline:1',
  mysql: { host: 'db', database: 'payments', credentialsSecret: 'db', serverId: 9, tables: ['purchases'] },
  kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay' },
  redis: { url: 'redis://cache:6379' },
  api: { authSecret: 'auth', replicas: 2 },
};

/** A tiny API server: apply stores the object and bumps resourceVersion only when it changed. */
class FakeCluster implements KubeWriter {
  objects = new Map<string, KubernetesObject & { spec?: unknown; status?: unknown }>();
  statuses: unknown[] = [];
  rv = 0;
  applies = 0;
  failKind: string | undefined;
  invalidKind: string | undefined;

  private id(o: KubernetesObject) {
    return `${o.kind}/${objectKey(o)}`;
  }
  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    this.applies++;
    if (obj.kind === this.failKind) throw new Error('admission webhook said no');
    const old = this.objects.get(this.id(obj));
    if (old && obj.kind === this.invalidKind) {
      throw new KubeApiError(422, 'Invalid', 'spec.ports[1].name: Duplicate value: "http"', {});
    }
    const { metadata: _m, ...body } = obj;
    const { metadata: _o, status, ...oldBody } = old ?? { metadata: {} };
    if (old && JSON.stringify(body) === JSON.stringify(oldBody)) return old as T;
    const next = { ...obj, status, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(this.id(obj), next);
    return next as T;
  }
  async applyStatus(obj: KubernetesObject & { status: unknown }) {
    this.statuses.push(obj.status);
  }
  async delete(obj: KubernetesObject) {
    return this.objects.delete(this.id(obj));
  }
  /** The Deployment controller and kwok: every Deployment rolled out and available. */
  rollOut() {
    for (const o of this.objects.values()) {
      if (o.kind !== 'Deployment') continue;
      const d = o as V1Deployment;
      const n = d.spec?.replicas ?? 1;
      d.metadata = { ...d.metadata, generation: 1, resourceVersion: String(++this.rv) };
      d.status = {
        observedGeneration: 1,
        replicas: n,
        updatedReplicas: n,
        availableReplicas: n,
        readyReplicas: n,
      };
    }
  }
}

function setup(pipelineSpec: unknown = spec, policy?: PipelinePolicy) {
  const cluster = new FakeCluster();
  const events: string[] = [];
  const pipeline: PaymentPipeline = {
    apiVersion: 'payments.example.com/v1alpha1',
    kind: 'PaymentPipeline',
    metadata: { name: 'pp', namespace: 'ns', uid: 'u-1', generation: 1 },
    spec: pipelineSpec,
  };
  const pods: V1Pod[] = [];
  const reconciler = new Reconciler({
    pipeline: (key) => (key === 'ns/pp' ? pipeline : undefined),
    child: (kind, key) => cluster.objects.get(`${kind}/${key}`),
    pods: () => pods,
    writer: cluster,
    events: new EventRecorder({
      sink: { create: async (_ns, e) => void events.push(`${e.reason}: ${e.note}`) },
      log: createLogger('test', 'silent'),
      controller: 'test/controller',
      instance: 'test',
      dedupMs: 0,
    }),
    log: createLogger('test', 'silent'),
    now: () => new Date('2026-01-01T00:00:00Z'),
    ...(policy ? { policy } : {}),
  });
  const lastStatus = () =>
    cluster.statuses.at(-1) as { conditions: { type: string; status: string; reason: string }[] };
  const condition = (type: string) => lastStatus().conditions.find((c) => c.type === type);
  return { cluster, events, pipeline, reconciler, condition, pods };
}

describe('Reconciler', () => {
  it('creates every child with a controller owner reference and reports Ready once rolled out', async () => {
    const { cluster, reconciler, condition, events } = setup();
    const out = await reconciler.reconcile('ns/pp');
    expect(out.changed.sort()).toEqual([
      'ConfigMap/pp-config',
      'Deployment/pp-api',
      'Deployment/pp-consumer',
      'Deployment/pp-producer',
      'PodDisruptionBudget/pp-api',
      'PodDisruptionBudget/pp-consumer',
      'Service/pp-api',
      'Service/pp-metrics',
    ]);
    for (const o of cluster.objects.values()) {
      expect(o.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'PaymentPipeline', name: 'pp', uid: 'u-1', controller: true }),
      ]);
    }
    const producer = cluster.objects.get('Deployment/ns/pp-producer') as V1Deployment;
    expect(producer.spec?.replicas).toBe(1);
    expect(producer.spec?.strategy?.type).toBe('Recreate');
    expect(condition('Ready')?.status).toBe('False');
    expect(events).toContain('Created: Deployment/pp-api');

    cluster.rollOut();
    await reconciler.reconcile('ns/pp');
    expect(condition('Ready')).toMatchObject({ status: 'True', reason: 'AllComponentsAvailable' });
    expect(condition('Degraded')?.status).toBe('False');
  });

  it("reports a component's crash-looping pod as Degraded before any deadline, and clears it on recovery", async () => {
    const { cluster, reconciler, condition, pods } = setup();
    await reconciler.reconcile('ns/pp');
    cluster.rollOut();
    const status = (ready: boolean, waiting?: string) => ({
      name: 'producer',
      image: 'img',
      imageID: '',
      ready,
      restartCount: 2,
      state: waiting ? { waiting: { reason: waiting } } : { running: {} },
      lastState: { terminated: { exitCode: 1, reason: 'Error' } },
    });
    pods.push({
      metadata: { name: 'pp-producer-abc', namespace: 'ns', labels: componentLabels('pp', 'producer') },
      status: { containerStatuses: [status(false, 'CrashLoopBackOff')] },
    });
    await reconciler.reconcile('ns/pp');
    expect(condition('Degraded')).toMatchObject({ status: 'True', reason: 'CrashLoopBackOff' });
    expect((condition('Degraded') as { message?: string }).message).toMatch(
      /^producer: pod pp-producer-abc container producer CrashLoopBackOff .*exit code 1/,
    );
    (pods[0] as V1Pod).status = { containerStatuses: [status(true)] };
    await reconciler.reconcile('ns/pp');
    expect(condition('Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(condition('Ready')?.status).toBe('True');
  });

  it('re-applying an unchanged spec changes nothing and writes no status', async () => {
    const { cluster, reconciler, pipeline } = setup();
    await reconciler.reconcile('ns/pp');
    pipeline.status = cluster.statuses.at(-1) as PaymentPipeline['status'];
    const writes = cluster.statuses.length;
    const out = await reconciler.reconcile('ns/pp');
    expect(out.changed).toEqual([]);
    expect(cluster.statuses.length).toBe(writes);
  });

  it('applies only the children that can change: none nobody wrote since its own apply, the edited one', async () => {
    const { cluster, reconciler, pipeline } = setup();
    await reconciler.reconcile('ns/pp');
    pipeline.status = { observedGeneration: 1 };
    const first = cluster.applies;
    expect(first).toBe(8);
    await reconciler.reconcile('ns/pp');
    expect(cluster.applies).toBe(first);
    const svc = cluster.objects.get('Service/ns/pp-api') as V1Service;
    cluster.objects.set('Service/ns/pp-api', {
      ...svc,
      spec: { ...svc.spec, type: 'NodePort' },
      metadata: { ...svc.metadata, resourceVersion: 'edited' },
    });
    const out = await reconciler.reconcile('ns/pp');
    expect(out.changed).toEqual(['Service/pp-api']);
    expect(cluster.applies).toBe(first + 1);
    expect((cluster.objects.get('Service/ns/pp-api') as V1Service).spec?.type).toBe('ClusterIP');
  });

  it('puts a hand-edited child back and says so', async () => {
    const { cluster, reconciler, pipeline, events } = setup();
    await reconciler.reconcile('ns/pp');
    pipeline.status = { observedGeneration: 1 };
    const api = cluster.objects.get('Deployment/ns/pp-api') as V1Deployment;
    cluster.objects.set('Deployment/ns/pp-api', {
      ...api,
      spec: { ...api.spec, replicas: 7 } as V1Deployment['spec'],
      metadata: { ...api.metadata, resourceVersion: 'edited' },
    });
    const out = await reconciler.reconcile('ns/pp');
    expect(out.changed).toEqual(['Deployment/pp-api']);
    expect((cluster.objects.get('Deployment/ns/pp-api') as V1Deployment).spec?.replicas).toBe(2);
    expect(events.at(-1)).toBe('DriftCorrected: Deployment/pp-api was changed by hand; put back');
  });

  it('does not touch children while paused', async () => {
    const { cluster, reconciler, condition, events } = setup({ ...spec, paused: true });
    const out = await reconciler.reconcile('ns/pp');
    expect(out.action).toBe('paused');
    expect(cluster.objects.size).toBe(0);
    expect(condition('Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(events).toEqual(['Paused: spec.paused is true: children are left as they are']);
  });

  it('refuses an invalid spec with a Degraded condition naming the field', async () => {
    const { cluster, reconciler, condition } = setup({
      ...spec,
      consumer: { minReplicas: 3, maxReplicas: 2 },
    });
    const out = await reconciler.reconcile('ns/pp');
    expect(out.action).toBe('invalid');
    expect(cluster.objects.size).toBe(0);
    expect(condition('Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
  });

  it('reports a failed apply as Degraded and throws so the queue retries', async () => {
    const { cluster, reconciler, condition } = setup();
    cluster.failKind = 'Service';
    await expect(reconciler.reconcile('ns/pp')).rejects.toThrow(/admission webhook said no/);
    expect(condition('Degraded')).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
  });

  it('recreates a child that a hand edit left in a state apply cannot correct', async () => {
    const { cluster, reconciler, events } = setup();
    await reconciler.reconcile('ns/pp');
    cluster.invalidKind = 'Service';
    // The hand edit (say, a second port named http) is a write: the Services get new resourceVersions.
    for (const [k, o] of cluster.objects) {
      if (o.kind !== 'Service') continue;
      cluster.objects.set(k, { ...o, metadata: { ...o.metadata, resourceVersion: String(++cluster.rv) } });
    }
    const out = await reconciler.reconcile('ns/pp');
    expect(out.changed).toEqual(['Service/pp-api', 'Service/pp-metrics']);
    expect(out.requeueAfterMs).toBeGreaterThan(0);
    expect(cluster.objects.has('Service/ns/pp-api')).toBe(false);
    expect(events.at(-1)).toMatch(
      /^Recreating: Service\/pp-\w+ was edited into a state apply cannot correct/,
    );
    cluster.invalidKind = undefined;
    await reconciler.reconcile('ns/pp');
    expect(cluster.objects.has('Service/ns/pp-api')).toBe(true);
  });

  it('does nothing for a deleted pipeline: the garbage collector owns the children', async () => {
    const { reconciler } = setup();
    expect((await reconciler.reconcile('ns/gone')).action).toBe('absent');
  });

  it('applies nothing for an image outside the allow-list and says why in the conditions', async () => {
    const policy = { images: ['registry.example.com/payments/*'], mysqlHosts: [] };
    const { cluster, reconciler, condition, events } = setup(spec, policy);
    const out = await reconciler.reconcile('ns/pp');
    expect(out).toEqual({ action: 'refused', changed: [] });
    expect(cluster.objects.size).toBe(0);
    for (const type of ['Ready', 'Progressing']) {
      expect(condition(type)).toMatchObject({ status: 'False', reason: 'ImageNotAllowed' });
    }
    expect(condition('Degraded')).toMatchObject({ status: 'True', reason: 'ImageNotAllowed' });
    expect(events).toEqual([expect.stringMatching(/^ImageNotAllowed: image payment-pipeline:1 is not in/)]);
    // An allowed image goes through.
    const allowed = setup({ ...spec, image: 'registry.example.com/payments/pipeline:1' }, policy);
    expect((await allowed.reconciler.reconcile('ns/pp')).action).toBe('applied');
  });

  it('applies nothing for a MySQL host outside the allow-list', async () => {
    const { cluster, reconciler, condition } = setup(spec, { images: [], mysqlHosts: ['*.db.example.com'] });
    expect((await reconciler.reconcile('ns/pp')).action).toBe('refused');
    expect(cluster.objects.size).toBe(0);
    expect(condition('Ready')).toMatchObject({ status: 'False', reason: 'MysqlHostNotAllowed' });
  });

  it('creates the NetworkPolicy when asked and deletes it when no longer asked', async () => {
    const { cluster, reconciler, pipeline } = setup({ ...spec, networkPolicy: { enabled: true } });
    expect((await reconciler.reconcile('ns/pp')).changed).toContain('NetworkPolicy/pp-pods');
    expect(cluster.objects.has('NetworkPolicy/ns/pp-pods')).toBe(true);
    pipeline.spec = { ...spec, networkPolicy: { enabled: false } };
    pipeline.metadata = { ...pipeline.metadata, generation: 2 };
    expect((await reconciler.reconcile('ns/pp')).changed).toContain('NetworkPolicy/pp-pods');
    expect(cluster.objects.has('NetworkPolicy/ns/pp-pods')).toBe(false);
    // Nothing to delete any more: no further change.
    expect((await reconciler.reconcile('ns/pp')).changed).toEqual([]);
  });
});
