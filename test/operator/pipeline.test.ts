import type { KubernetesObject, V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentPipeline } from '../../operator/api/v1alpha1/types.ts';
import {
  type Kube,
  kubeClient,
  kubeConfig,
  operatorNamespace,
  pipeline,
  pipelineSpec,
  waitFor,
} from './support.ts';

// Against the real control plane of dev/cluster.sh: kube-apiserver + etcd, the controller-manager
// (Deployments → ReplicaSets → Pods, garbage collection), the scheduler and kwok (pods Running/Ready).

const kc = kubeConfig();
const kube: Kube = kubeClient(kc);
let ns = '';
let stop: (() => Promise<void>) | undefined;

const deployment = (name: string) => kube.get<V1Deployment>('Deployment', ns, name);
const getPipeline = (name: string) => kube.get<PaymentPipeline>('PaymentPipeline', ns, name);
const condition = (p: PaymentPipeline | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  ({ ns, stop } = await operatorNamespace(kube, kc, 'op-pipeline'));
});

afterAll(async () => {
  await stop?.();
});

describe('PaymentPipeline reconciliation on a real API server', () => {
  it('creates the children with owner references and becomes Ready once kwok runs the pods', async () => {
    const created = await kube.create<PaymentPipeline>(
      'PaymentPipeline',
      ns,
      pipeline(ns, 'shop', pipelineSpec()),
    );
    const uid = created.metadata?.uid;

    // The children are applied concurrently: wait for all of them, not just the first few.
    const names = ['shop-producer', 'shop-consumer', 'shop-api'];
    const deps = await waitFor('children', async () => {
      const all = await Promise.all(names.map(deployment));
      const others = await Promise.all([
        kube.get('Service', ns, 'shop-api'),
        kube.get('Service', ns, 'shop-metrics'),
        kube.get('ConfigMap', ns, 'shop-config'),
        kube.get('PodDisruptionBudget', ns, 'shop-api'),
        kube.get('PodDisruptionBudget', ns, 'shop-consumer'),
      ]);
      return all.every(Boolean) && others.every(Boolean) ? (all as V1Deployment[]) : undefined;
    });
    for (const d of deps) {
      expect(d.metadata?.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'PaymentPipeline',
          name: 'shop',
          uid,
          controller: true,
          blockOwnerDeletion: true,
        }),
      ]);
    }
    const producer = deps[0] as V1Deployment;
    expect(producer.spec?.replicas).toBe(1);
    expect(producer.spec?.strategy?.type).toBe('Recreate');
    expect(producer.spec?.template.spec?.containers[0]?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(producer.spec?.template.spec?.containers[0]?.livenessProbe?.httpGet?.path).toBe('/healthz');
    const svc = await kube.get<V1Service>('Service', ns, 'shop-api');
    expect(svc?.metadata?.ownerReferences?.[0]?.uid).toBe(uid);
    const cm = await kube.get<KubernetesObject & { data?: Record<string, string> }>(
      'ConfigMap',
      ns,
      'shop-config',
    );
    expect(cm?.data?.KAFKA_BROKERS).toBe('kafka:9092');
    expect(await kube.get('PodDisruptionBudget', ns, 'shop-api')).toBeDefined();

    const ready = await waitFor(
      'Ready=True',
      async () => {
        const p = await getPipeline('shop');
        return condition(p, 'Ready')?.status === 'True' ? p : undefined;
      },
      120_000,
      250,
    );
    expect(condition(ready, 'Ready')).toMatchObject({
      reason: 'AllComponentsAvailable',
      observedGeneration: ready.metadata?.generation,
    });
    expect(condition(ready, 'Progressing')?.status).toBe('False');
    expect(condition(ready, 'Degraded')?.status).toBe('False');
    expect(ready.status?.observedGeneration).toBe(ready.metadata?.generation);
    expect(ready.status?.api?.readyReplicas).toBe(2);

    const pods = await kube.http.request<{ items: { status?: { phase?: string } }[] }>(
      'GET',
      `/api/v1/namespaces/${ns}/pods`,
    );
    expect(pods.items.filter((p) => p.status?.phase === 'Running').length).toBeGreaterThanOrEqual(4);
    const events = await kube.http.request<{ items: { reason: string; regarding: { name: string } }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    );
    expect(events.items.some((e) => e.reason === 'Created' && e.regarding.name === 'shop')).toBe(true);
  });

  it('rolls a spec change out to the children', async () => {
    await kube.mergePatch('PaymentPipeline', ns, 'shop', {
      spec: { image: 'payment-pipeline:v2', api: { replicas: 3 }, logLevel: 'debug' },
    });
    const api = await waitFor('api updated', async () => {
      const d = await deployment('shop-api');
      return d?.spec?.replicas === 3 && d.spec.template.spec?.containers[0]?.image === 'payment-pipeline:v2'
        ? d
        : undefined;
    });
    expect(api.spec?.template.metadata?.annotations?.['payments.example.com/config-hash']).toBeDefined();
    const producer = await deployment('shop-producer');
    expect(producer?.spec?.template.spec?.containers[0]?.image).toBe('payment-pipeline:v2');
    const cm = await kube.get<{ data?: Record<string, string> }>('ConfigMap', ns, 'shop-config');
    expect(cm?.data?.LOG_LEVEL).toBe('debug');
    await waitFor(
      'Ready again at the new generation',
      async () => {
        const p = await getPipeline('shop');
        const ready = condition(p, 'Ready');
        return ready?.status === 'True' && ready.observedGeneration === p?.metadata?.generation;
      },
      120_000,
      250,
    );
  });

  it('puts a hand-edited child back', async () => {
    await kube.mergePatch('Deployment', ns, 'shop-api', {
      spec: { template: { spec: { containers: [{ name: 'api', image: 'evil:latest' }] } } },
    });
    await kube.mergePatch('ConfigMap', ns, 'shop-config', { data: { KAFKA_BROKERS: 'elsewhere:9092' } });
    await kube.mergePatch('Service', ns, 'shop-api', {
      spec: { ports: [{ name: 'http', port: 81, targetPort: 'http' }] },
    });
    await waitFor('Deployment image put back', async () => {
      const d = await deployment('shop-api');
      return d?.spec?.template.spec?.containers[0]?.image === 'payment-pipeline:v2';
    });
    await waitFor('ConfigMap put back', async () => {
      const cm = await kube.get<{ data?: Record<string, string> }>('ConfigMap', ns, 'shop-config');
      return cm?.data?.KAFKA_BROKERS === 'kafka:9092';
    });
    await waitFor('Service port put back', async () => {
      const svc = await kube.get<V1Service>('Service', ns, 'shop-api');
      return svc?.spec?.ports?.length === 1 && svc.spec.ports[0]?.port === 80;
    });
  });

  it('leaves the children alone while paused and catches up when resumed', async () => {
    await kube.mergePatch('PaymentPipeline', ns, 'shop', { spec: { paused: true } });
    await waitFor(
      'Paused condition',
      async () => condition(await getPipeline('shop'), 'Progressing')?.reason === 'Paused',
    );
    await kube.mergePatch('Deployment', ns, 'shop-api', {
      spec: { template: { spec: { containers: [{ name: 'api', image: 'hotfix:1' }] } } },
    });
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await deployment('shop-api'))?.spec?.template.spec?.containers[0]?.image).toBe('hotfix:1');

    await kube.mergePatch('PaymentPipeline', ns, 'shop', { spec: { paused: false } });
    await waitFor('reconciled after resume', async () => {
      const d = await deployment('shop-api');
      return d?.spec?.template.spec?.containers[0]?.image === 'payment-pipeline:v2';
    });
  });

  it('reports a requested ServiceMonitor without prometheus-operator as Degraded, and runs the rest', async () => {
    await kube.create(
      'PaymentPipeline',
      ns,
      pipeline(ns, 'mon', pipelineSpec({ monitoring: { serviceMonitor: true } })),
    );
    const p = await waitFor('Degraded=True', async () => {
      const got = await getPipeline('mon');
      return condition(got, 'Degraded')?.status === 'True' ? got : undefined;
    });
    expect(condition(p, 'Degraded')).toMatchObject({
      reason: 'ApplyFailed',
      message: expect.stringContaining('monitoring.coreos.com/v1 is not installed'),
    });
    expect(await deployment('mon-api')).toBeDefined();
    await kube.delete('PaymentPipeline', ns, 'mon');
  });

  it('runs the pods under seccomp RuntimeDefault and fences them with a NetworkPolicy when asked', async () => {
    const fenced = pipelineSpec({
      networkPolicy: { enabled: true, metricsFrom: [{ namespaceLabels: { team: 'monitoring' } }] },
    });
    await kube.create('PaymentPipeline', ns, pipeline(ns, 'fenced', fenced));
    const policy = await waitFor('NetworkPolicy', () =>
      kube.get<KubernetesObject & { spec?: { ingress?: unknown[] } }>('NetworkPolicy', ns, 'fenced-pods'),
    );
    expect(policy.spec?.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }] },
      {
        ports: [{ port: 'metrics', protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } } }],
      },
    ]);
    // The pods themselves (made by the controller-manager from the Deployments) carry the profile.
    const pods = await waitFor('fenced pods', async () => {
      const list = await kube.http.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`, {
        query: { labelSelector: 'app.kubernetes.io/instance=fenced' },
      });
      return list.items.length >= 3 ? list.items : undefined;
    });
    for (const pod of pods) {
      expect(pod.spec?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(pod.spec?.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.spec?.containers[0]?.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    await kube.mergePatch('PaymentPipeline', ns, 'fenced', { spec: { networkPolicy: { enabled: false } } });
    await waitFor(
      'NetworkPolicy deleted',
      async () => (await kube.get('NetworkPolicy', ns, 'fenced-pods')) === undefined,
    );
    await kube.delete('PaymentPipeline', ns, 'fenced');
  });

  it('garbage-collects the children when the pipeline is deleted', async () => {
    await kube.delete('PaymentPipeline', ns, 'shop');
    await waitFor(
      'children gone',
      async () => {
        const left = await Promise.all([
          deployment('shop-api'),
          deployment('shop-consumer'),
          deployment('shop-producer'),
          kube.get('Service', ns, 'shop-api'),
          kube.get('ConfigMap', ns, 'shop-config'),
          kube.get('PodDisruptionBudget', ns, 'shop-api'),
        ]);
        return left.every((x) => x === undefined);
      },
      120_000,
      250,
    );
  });
});
