import type { V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentPipeline } from '../../operator/api/v1alpha1/types.ts';
import type { Operator } from '../../operator/app.ts';
import {
  createNamespace,
  createSecrets,
  deleteNamespace,
  ensureCrd,
  type Kube,
  kubeClient,
  kubeConfig,
  operatorNamespace,
  pipeline,
  pipelineSpec,
  startInProcessOperator,
  waitFor,
} from './support.ts';

// What an operator installation allows a PaymentPipeline to ask for (ALLOWED_IMAGES,
// ALLOWED_MYSQL_HOSTS), and which namespaces it watches (WATCH_NAMESPACE), on the real API server.

const kc = kubeConfig();
const kube: Kube = kubeClient(kc);

const condition = (p: PaymentPipeline | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);

describe('allow-lists', () => {
  let ns = '';
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ ns, stop } = await operatorNamespace(kube, kc, 'op-policy', {
      env: {
        ALLOWED_IMAGES: 'registry.example.com/payments/*',
        ALLOWED_MYSQL_HOSTS: 'mariadb,*.db.example.com',
      },
    }));
  });
  afterAll(async () => {
    await stop?.();
  });

  const refusedWith = (name: string, reason: string) =>
    waitFor(`${name} refused with ${reason}`, async () => {
      const p = await kube.get<PaymentPipeline>('PaymentPipeline', ns, name);
      return condition(p, 'Ready')?.reason === reason ? p : undefined;
    });

  it('refuses an image outside the list: a condition and an Event say why, and no pod is created', async () => {
    await kube.create(
      'PaymentPipeline',
      ns,
      pipeline(ns, 'exfil', pipelineSpec({ image: 'evil.io/dump-env:1' })),
    );
    const p = await refusedWith('exfil', 'ImageNotAllowed');
    expect(condition(p, 'Ready')).toMatchObject({
      status: 'False',
      observedGeneration: p.metadata?.generation,
      message: expect.stringContaining('image evil.io/dump-env:1 is not in'),
    });
    expect(condition(p, 'Degraded')).toMatchObject({ status: 'True', reason: 'ImageNotAllowed' });
    const events = await kube.http.request<{ items: { reason: string; regarding: { name: string } }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    );
    expect(events.items.some((e) => e.reason === 'ImageNotAllowed' && e.regarding.name === 'exfil')).toBe(
      true,
    );
    for (const c of ['producer', 'consumer', 'api']) {
      expect(await kube.get('Deployment', ns, `exfil-${c}`)).toBeUndefined();
    }
    expect(await kube.get('ConfigMap', ns, 'exfil-config')).toBeUndefined();

    // Fixing the image lets the pipeline through.
    await kube.mergePatch('PaymentPipeline', ns, 'exfil', {
      spec: { image: 'registry.example.com/payments/pipeline:1.0' },
    });
    const producer = await waitFor('producer Deployment', () =>
      kube.get<V1Deployment>('Deployment', ns, 'exfil-producer'),
    );
    expect(producer.spec?.template.spec?.containers[0]?.image).toBe(
      'registry.example.com/payments/pipeline:1.0',
    );
  });

  it('keeps running children as they are when the image is changed to one outside the list', async () => {
    const good = 'registry.example.com/payments/pipeline:1.0';
    await kube.create('PaymentPipeline', ns, pipeline(ns, 'swap', pipelineSpec({ image: good })));
    await waitFor('api Deployment', () => kube.get<V1Deployment>('Deployment', ns, 'swap-api'));
    await kube.mergePatch('PaymentPipeline', ns, 'swap', { spec: { image: 'evil.io/dump-env:1' } });
    await refusedWith('swap', 'ImageNotAllowed');
    const api = await kube.get<V1Deployment>('Deployment', ns, 'swap-api');
    expect(api?.spec?.template.spec?.containers[0]?.image).toBe(good);
  });

  it('refuses a MySQL host outside the list', async () => {
    await kube.create(
      'PaymentPipeline',
      ns,
      pipeline(
        ns,
        'elsewhere',
        pipelineSpec({
          image: 'registry.example.com/payments/pipeline:1.0',
          mysql: { ...pipelineSpec().mysql, host: 'collector.evil.io' },
        }),
      ),
    );
    const p = await refusedWith('elsewhere', 'MysqlHostNotAllowed');
    expect(condition(p, 'Ready')?.message).toContain('mysql.host collector.evil.io is not in');
    expect(await kube.get('Deployment', ns, 'elsewhere-producer')).toBeUndefined();
  });
});

describe('WATCH_NAMESPACE with several namespaces', () => {
  const names: string[] = [];
  let operator: Operator | undefined;
  beforeAll(async () => {
    await ensureCrd(kube);
    for (const prefix of ['op-watch-a', 'op-watch-b', 'op-watch-other']) {
      const ns = await createNamespace(kube, prefix);
      await createSecrets(kube, ns);
      names.push(ns);
    }
    const [a = '', b = ''] = names;
    operator = startInProcessOperator(kc, a, undefined, { WATCH_NAMESPACE: `${a},${b}` });
    const started = operator;
    await waitFor('leadership', () => started.elector.isLeader, 30_000);
  });
  afterAll(async () => {
    await operator?.stop();
    for (const ns of names) await deleteNamespace(kube, ns);
  });

  it('reconciles pipelines in each listed namespace and leaves the others alone', async () => {
    const [a = '', b = '', other = ''] = names;
    for (const ns of names) await kube.create('PaymentPipeline', ns, pipeline(ns, 'shop', pipelineSpec()));
    for (const ns of [a, b]) {
      await waitFor(`children in ${ns}`, () => kube.get<V1Deployment>('Deployment', ns, 'shop-api'));
    }
    // Give the operator the time it would have needed for the third namespace too.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await kube.get('Deployment', other, 'shop-api')).toBeUndefined();
    const untouched = await kube.get<PaymentPipeline>('PaymentPipeline', other, 'shop');
    expect(untouched?.status).toBeUndefined();
    // Deleting a child in the second namespace is noticed (its child informer watches there too).
    const before = await kube.get<V1Deployment>('Deployment', b, 'shop-api');
    await kube.delete('Deployment', b, 'shop-api');
    await waitFor('api Deployment recreated', async () => {
      const d = await kube.get<V1Deployment>('Deployment', b, 'shop-api');
      return d && d.metadata?.uid !== before?.metadata?.uid ? d : undefined;
    });
  });
});
