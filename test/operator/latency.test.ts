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

// Reconcile latency on the real API server: time from the PATCH of a PaymentPipeline's spec to the
// moment a watch sees the child carrying the change. The change is the API Service's port, so every
// round trip exercises watch → queue → reconcile → server-side apply → watch, without pod churn.
// CHANGES (default 100) sequential changes; the figures go to docs/operator.md.

const CHANGES = Number(process.env.OPERATOR_LATENCY_CHANGES ?? 100);
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

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

describe('reconcile latency', () => {
  it(`applies ${CHANGES} spec changes to the children quickly`, async () => {
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
    const samples: number[] = [];
    const patchMs: number[] = [];
    try {
      for (let i = 0; i < CHANGES; i++) {
        const port = 10_000 + i;
        const seen = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`change ${i} not applied within 10 s`)), 10_000);
          waiters.set(port, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        const t0 = performance.now();
        await kube.mergePatch('PaymentPipeline', ns, 'lat', { spec: { api: { service: { port } } } });
        patchMs.push(performance.now() - t0);
        await seen;
        samples.push(performance.now() - t0);
        waiters.delete(port);
      }
    } finally {
      watch.abort();
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const patchSorted = [...patchMs].sort((a, b) => a - b);
    console.log(
      `reconcile latency over ${samples.length} changes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms` +
        ` (of which the PATCH itself: p50 ${percentile(patchSorted, 50).toFixed(1)} ms, p99 ${percentile(patchSorted, 99).toFixed(1)} ms)`,
    );
    expect(samples).toHaveLength(CHANGES);
    expect(p99).toBeLessThan(2_000);
  });
});
