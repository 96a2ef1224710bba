import type { V1Service } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Kube,
  kubeClient,
  kubeConfig,
  operatorNamespace,
  pipeline,
  pipelineSpec,
  waitFor,
} from './support.ts';

// Successive spec changes on the real API server, each followed to the child it changes (the API
// Service's port: watch → queue → reconcile → server-side apply → watch, no pod churn): every change
// arrives, none is lost behind the previous one or skipped as "already applied", and a hand edit
// between them is still put back. How fast: `make bench-operator` (bench/operator/reconcile.ts).

const CHANGES = 20;
const kc = kubeConfig();
const kube: Kube = kubeClient(kc);
let ns = '';
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ ns, stop } = await operatorNamespace(kube, kc, 'op-latency'));
});
afterAll(async () => {
  await stop?.();
});

describe('successive spec changes', () => {
  it(`reach the children, ${CHANGES} in a row, with a hand edit put back in between`, async () => {
    await kube.create('PaymentPipeline', ns, pipeline(ns, 'lat', pipelineSpec()));
    await waitFor('api service', () => kube.get<V1Service>('Service', ns, 'lat-api'));

    const waiters = new Map<number, () => void>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/services`,
      { fieldSelector: 'metadata.name=lat-api' },
      (_type: string, svc: V1Service) => {
        const port = svc.spec?.ports?.[0]?.port;
        if (port !== undefined) waiters.get(port)?.();
      },
      () => {},
    );
    const seenPorts: number[] = [];
    const seen = (port: number, what: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what} not applied within 30 s`)), 30_000);
        waiters.set(port, () => {
          clearTimeout(timer);
          waiters.delete(port);
          seenPorts.push(port);
          resolve();
        });
      });
    try {
      for (let i = 0; i < CHANGES; i++) {
        const port = 10_000 + i;
        const applied = seen(port, `change ${i}`);
        await kube.mergePatch('PaymentPipeline', ns, 'lat', { spec: { api: { service: { port } } } });
        await applied;
        if (i === CHANGES / 2) {
          // Another writer changes the child the operator applied last: it is put back.
          const putBack = seen(port, 'the hand-edited port put back');
          await kube.mergePatch('Service', ns, 'lat-api', {
            spec: { ports: [{ name: 'http', port: 9, targetPort: 'http', protocol: 'TCP' }] },
          });
          await putBack;
        }
      }
    } finally {
      watch.abort();
    }
    const last = 10_000 + CHANGES - 1;
    expect(seenPorts.at(-1)).toBe(last);
    expect(seenPorts.filter((p) => p !== 9)).toHaveLength(CHANGES + 1);
    const svc = await kube.get<V1Service>('Service', ns, 'lat-api');
    expect(svc?.spec?.ports?.map((p) => p.port)).toEqual([last]);
  });
});
