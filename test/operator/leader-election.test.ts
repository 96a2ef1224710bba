import type { V1Deployment, V1Lease } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  createSecrets,
  deleteNamespace,
  ensureCrd,
  type Kube,
  kubeClient,
  kubeConfig,
  type OperatorProcess,
  pipeline,
  pipelineSpec,
  spawnOperator,
  waitFor,
} from './support.ts';

// Two `node operator/main.ts` processes against the real API server, one Lease: exactly one acts.

const kube: Kube = kubeClient(kubeConfig());
let ns = '';
const procs: OperatorProcess[] = [];

beforeAll(async () => {
  await ensureCrd(kube);
  ns = await createNamespace(kube, 'op-leader');
  await createSecrets(kube, ns);
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  if (ns) await deleteNamespace(kube, ns);
});

const holder = async () => (await kube.get<V1Lease>('Lease', ns, 'operator'))?.spec?.holderIdentity;
const synced = (p: OperatorProcess) => p.output().includes('caches synced');
const image = async (name: string) =>
  (await kube.get<V1Deployment>('Deployment', ns, name))?.spec?.template.spec?.containers[0]?.image;

describe('leader election between two operator processes', () => {
  it('lets one act, and the other take over when it stops', async () => {
    const base = 19470 + Math.floor(Math.random() * 400);
    procs.push(spawnOperator(ns, 'op-a', base), spawnOperator(ns, 'op-b', base + 1));
    const leaderId = await waitFor('a lease holder', holder, 30_000);
    const leader = procs.find((p) => p.identity === leaderId) as OperatorProcess;
    const standby = procs.find((p) => p.identity !== leaderId) as OperatorProcess;
    await waitFor('leader caches synced', () => synced(leader), 30_000);

    await kube.create('PaymentPipeline', ns, pipeline(ns, 'duo', pipelineSpec()));
    await waitFor(
      'children from the leader',
      async () => (await image('duo-api')) === 'payment-pipeline:test',
    );
    // Several seconds of leadership, several renewals: the standby never starts reconciling.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await holder()).toBe(leaderId);
    expect(synced(standby)).toBe(false);
    // The ops port of each process: the leader says so and has reconciled, the standby has not.
    const metrics = async (p: OperatorProcess) =>
      (await fetch(`http://127.0.0.1:${base + procs.indexOf(p)}/metrics`)).text();
    const leaderMetrics = await metrics(leader);
    expect(leaderMetrics).toMatch(/^payments_operator_leader\{[^}]*\} 1$/m);
    expect(leaderMetrics).toMatch(
      /^payments_operator_reconcile_duration_seconds_count\{[^}]*result="success"[^}]*\} [1-9]/m,
    );
    const standbyMetrics = await metrics(standby);
    expect(standbyMetrics).toMatch(/^payments_operator_leader\{[^}]*\} 0$/m);
    expect(standbyMetrics).not.toMatch(/reconcile_duration_seconds_count\{[^}]*\} [1-9]/);
    expect((await fetch(`http://127.0.0.1:${base + procs.indexOf(standby)}/healthz`)).status).toBe(200);
    const managers =
      (await kube.get<V1Deployment>('Deployment', ns, 'duo-api'))?.metadata?.managedFields ?? [];
    expect(managers.filter((m) => m.operation === 'Apply').map((m) => m.manager)).toEqual([
      'payment-pipeline-operator',
    ]);

    // SIGTERM: the leader stops acting and releases the lease; the standby takes over without waiting
    // for the lease to expire, and reconciles the next change.
    const t0 = Date.now();
    await leader.stop();
    expect(leader.child.exitCode).toBe(0);
    await waitFor('standby leads', async () => (await holder()) === standby.identity, 20_000);
    await waitFor('standby caches synced', () => synced(standby), 20_000);
    const takeoverMs = Date.now() - t0;
    expect(takeoverMs).toBeLessThan(6_000); // under the 6 s lease duration: the lease was released
    await kube.mergePatch('PaymentPipeline', ns, 'duo', { spec: { image: 'payment-pipeline:next' } });
    await waitFor(
      'children from the new leader',
      async () => (await image('duo-api')) === 'payment-pipeline:next',
    );
    console.log(`leader handover after SIGTERM: ${takeoverMs} ms`);
  });
});
