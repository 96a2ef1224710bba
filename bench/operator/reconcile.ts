import { loadavg } from 'node:os';
import { type KubernetesObject, type V1ConfigMap, type V1Service, Watch } from '@kubernetes/client-node';
import type { PaymentPipeline } from '../../operator/api/v1alpha1/types.ts';
import {
  createNamespace,
  createSecrets,
  deleteNamespace,
  ensureCrd,
  type Kube,
  kubeClient,
  kubeConfig,
  pipeline,
  pipelineSpec,
  spawnOperator,
  waitFor,
} from '../../test/operator/support.ts';
import { summarise } from '../e2e/stats.ts';

/**
 * Reconcile latency on the real API server (the kwok cluster of `dev/cluster.sh up`): the time from
 * the PATCH of a PaymentPipeline's spec to the moment a watch sees the child carrying the change
 * (the API Service's port: watch → queue → reconcile → server-side apply → watch, no pod churn).
 * The operator runs as its own process (`node operator/main.ts`), as in a cluster.
 *
 * Baseline, interleaved with every change in the same run: the same path without the operator — a
 * PATCH of a plain ConfigMap until a watch sees it — and one raw GET round trip. The operator's own
 * share is the difference.
 *
 *   make bench-operator    (or: node bench/operator/reconcile.ts; CHANGES=100, TARGET_P99_MS=200, BACK_TO_BACK=1)
 */

const CHANGES = Number(process.env.CHANGES ?? 100);
/**
 * Settled (default): each change starts once the operator has finished the previous one (its status
 * shows the previous generation observed), so a sample is one change's latency, not the tail of the
 * last reconcile's status write. BACK_TO_BACK=1: the next change follows as soon as the child is seen.
 */
const BACK_TO_BACK = process.env.BACK_TO_BACK === '1';
const TARGET_P99_MS = Number(process.env.TARGET_P99_MS ?? 200);
const COMMAND = `${BACK_TO_BACK ? 'BACK_TO_BACK=1 ' : ''}make bench-operator`;

/** Resolves when `watch` sees an object for which `match` holds; rejects after 10 s. */
class Waiters<T> {
  private readonly pending = new Set<{ match: (o: T) => boolean; resolve: () => void }>();

  wait(match: (o: T) => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: not seen within 10 s`)), 10_000);
      const entry = {
        match,
        resolve: () => {
          clearTimeout(timer);
          this.pending.delete(entry);
          resolve();
        },
      };
      this.pending.add(entry);
    });
  }

  seen(obj: T): void {
    for (const p of [...this.pending]) if (p.match(obj)) p.resolve();
  }
}

async function watchObject<T extends KubernetesObject>(
  path: string,
  name: string,
  waiters: Waiters<T>,
): Promise<{ abort(): void }> {
  const kc = kubeConfig();
  return new Watch(kc).watch(
    path,
    { fieldSelector: `metadata.name=${name}` },
    (_type: string, obj: T) => waiters.seen(obj),
    () => {},
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const fmt = (ms: number) => ms.toFixed(1);
const line = (label: string, s: ReturnType<typeof summarise>) =>
  `${label.padEnd(44)} p50 ${fmt(s.p50).padStart(6)} ms  p90 ${fmt(s.p90).padStart(6)} ms  p99 ${fmt(s.p99).padStart(6)} ms  max ${fmt(s.max).padStart(6)} ms`;

/** The operator's reconcile passes and their mean duration, from its /metrics. */
async function operatorMetrics(
  port: number,
): Promise<{ reconciles: number; meanMs: number; childChanges: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((acc, l) => acc + Number(l.split(' ').at(-1)), 0);
  const reconciles = sum('payments_operator_reconcile_duration_seconds_count');
  const seconds = sum('payments_operator_reconcile_duration_seconds_sum');
  return {
    reconciles,
    meanMs: reconciles > 0 ? (seconds / reconciles) * 1000 : Number.NaN,
    childChanges: sum('payments_operator_child_changes_total'),
  };
}

async function main(): Promise<void> {
  const kube: Kube = kubeClient(kubeConfig());
  await ensureCrd(kube);
  const ns = await createNamespace(kube, 'bench-op');
  const opsPort = 23800 + Math.floor(Math.random() * 100);
  const operator = spawnOperator(ns, 'bench-operator', opsPort);
  const load0 = loadavg();
  try {
    await createSecrets(kube, ns);
    await kube.create('ConfigMap', ns, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'baseline' },
      data: { n: '0' },
    });
    await kube.create('PaymentPipeline', ns, pipeline(ns, 'lat', pipelineSpec()));
    await waitFor('the api Service', () => kube.get<V1Service>('Service', ns, 'lat-api'), 60_000);

    const services = new Waiters<V1Service>();
    const configMaps = new Waiters<V1ConfigMap>();
    const pipelines = new Waiters<PaymentPipeline>();
    const watches = [
      await watchObject(kube.path('Service', ns), 'lat-api', services),
      await watchObject(kube.path('ConfigMap', ns), 'baseline', configMaps),
      await watchObject(kube.path('PaymentPipeline', ns), 'lat', pipelines),
    ];
    const observed = (p: PaymentPipeline) =>
      p.metadata?.generation !== undefined && p.status?.observedGeneration === p.metadata.generation;
    const current = await kube.get<PaymentPipeline>('PaymentPipeline', ns, 'lat');
    if (!current || !observed(current)) await pipelines.wait(observed, 'the first reconcile');
    // Every change below is a spec change: the generation goes up by one each time.
    let generation = current?.metadata?.generation ?? 1;
    const reconcile: number[] = [];
    const patch: number[] = [];
    const baseline: number[] = [];
    const get: number[] = [];
    try {
      for (let i = 0; i < CHANGES; i++) {
        const port = 10_000 + i;
        // Baseline first: a write the API server alone turns into a watch event.
        const cmSeen = configMaps.wait((cm) => cm.data?.n === String(i + 1), `baseline ${i}`);
        baseline.push(
          await timed(async () => {
            await kube.mergePatch('ConfigMap', ns, 'baseline', { data: { n: String(i + 1) } });
            await cmSeen;
          }),
        );
        get.push(await timed(() => kube.get('ConfigMap', ns, 'baseline')));
        const svcSeen = services.wait((s) => s.spec?.ports?.[0]?.port === port, `change ${i}`);
        const expected = ++generation;
        const settled = pipelines.wait(
          (p) => (p.status?.observedGeneration ?? 0) >= expected,
          `change ${i} observed`,
        );
        const t0 = performance.now();
        await kube.mergePatch('PaymentPipeline', ns, 'lat', { spec: { api: { service: { port } } } });
        patch.push(performance.now() - t0);
        await svcSeen;
        reconcile.push(performance.now() - t0);
        if (!BACK_TO_BACK) await settled;
        else settled.catch(() => {});
      }
    } finally {
      for (const w of watches) w.abort();
    }
    const load1 = loadavg();
    const own = await operatorMetrics(opsPort);
    const r = summarise(reconcile);
    const b = summarise(baseline);
    console.log(
      `operator reconcile latency, ${CHANGES} spec changes, ${BACK_TO_BACK ? 'back to back' : 'each after the previous one settled'} (${new Date().toISOString()})`,
    );
    console.log(line('spec PATCH → child updated (watch sees it)', r));
    console.log(line('  of which the spec PATCH round trip', summarise(patch)));
    console.log(line('baseline: ConfigMap PATCH → watch sees it', b));
    console.log(line('baseline: one GET round trip', summarise(get)));
    console.log(
      `the operator's own reconcile passes: ${own.reconciles} (mean ${fmt(own.meanMs)} ms each), server-side applies that changed a child: ${own.childChanges}`,
    );
    console.log(
      `operator's share (p50 difference to the baseline): ${fmt(r.p50 - b.p50)} ms; p99/baseline p99: ${(r.p99 / b.p99).toFixed(2)}`,
    );
    console.log(
      `load average (1 min) ${load0[0]?.toFixed(2)} → ${load1[0]?.toFixed(2)} on this machine; command: ${COMMAND}`,
    );
    console.log(
      `target p99 < ${TARGET_P99_MS} ms: ${r.p99 < TARGET_P99_MS ? 'met' : 'NOT met'} (p99 ${fmt(r.p99)} ms)`,
    );
  } finally {
    await operator.stop();
    await deleteNamespace(kube, ns);
    kube.http.close();
  }
}

await main();
