import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/core/logger.ts';
import type { PipelineSpecInput } from '../api/v1alpha1/spec.ts';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import type { PipelinePolicy } from '../controller/policy.ts';
import { EventRecorder } from '../framework/events.ts';
import { createAutoscalingDuty } from './autoscaler/duty.ts';
import type { LagObservation } from './autoscaler/types.ts';
import { DutyRunner } from './runner.ts';

const spec: PipelineSpecInput = {
  image: 'payment-pipeline:1',
  mysql: { host: 'db', database: 'payments', credentialsSecret: 'db', serverId: 9, tables: ['purchases'] },
  kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay', partitions: 6 },
  redis: { url: 'redis://cache:6379' },
  api: { authSecret: 'auth' },
  consumer: { minReplicas: 1, maxReplicas: 6, lagThreshold: 10 },
};

function harness(lag: () => LagObservation, policy?: PipelinePolicy) {
  const events: Record<string, unknown>[] = [];
  const changed: string[] = [];
  const pipeline: PaymentPipeline = {
    apiVersion: 'payments.example.com/v1alpha1',
    kind: 'PaymentPipeline',
    metadata: { name: 'shop', namespace: 'ns', generation: 1 },
    spec,
  };
  const consumer: V1Deployment = {
    kind: 'Deployment',
    metadata: { name: 'shop-consumer' },
    spec: { replicas: 1 } as never,
  };
  const runner = new DutyRunner({
    autoscaler: createAutoscalingDuty({ lagOf: async () => ({ observation: lag(), partitions: [] }) }),
    pipeline: (key) => (key === 'ns/shop' ? pipeline : undefined),
    child: (kind, key) =>
      kind === 'Deployment' && key === 'ns/shop-consumer' ? (consumer as KubernetesObject) : undefined,
    events: new EventRecorder({
      sink: { create: async (_ns, e) => void events.push(e) },
      log: createLogger('test', 'silent'),
      controller: 'test/controller',
      instance: 'test',
    }),
    log: createLogger('test', 'silent'),
    onChange: (key) => changed.push(key),
    intervalMs: 20,
    ...(policy ? { policy } : {}),
  });
  return { runner, events, changed, consumer };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition not reached');
};

describe('DutyRunner', () => {
  it('runs in the background, keeps the latest outcome and asks for a reconcile when it changes', async () => {
    let total = 45n;
    const h = harness(() => ({ kind: 'lag', total, partitions: 6, uncommittedPartitions: 0 }));
    expect(h.runner.latest('ns/shop')).toBeUndefined();
    h.runner.track('ns/shop');
    h.runner.track('ns/shop'); // idempotent: one loop per pipeline
    await until(() => h.runner.latest('ns/shop') !== undefined);
    expect(h.runner.latest('ns/shop')).toMatchObject({
      consumerReplicas: 5,
      status: { consumer: { lag: 45 } },
    });
    expect(h.changed).toEqual(['ns/shop']);
    expect(h.events.map((e) => e.reason)).toEqual(['ScaledUp']);

    // Unchanged outcome: no further reconcile requests.
    h.consumer.spec = { ...h.consumer.spec, replicas: 5 } as never;
    await until(() => h.changed.length >= 2);
    const settled = h.changed.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(h.changed.length).toBe(settled);

    total = 60n;
    await until(() => h.runner.latest('ns/shop')?.consumerReplicas === 6);
    expect(h.changed.length).toBeGreaterThan(settled);
    await h.runner.stop();
  });

  it('forgets a pipeline that was untracked', async () => {
    const h = harness(() => ({ kind: 'no-committed-offsets', partitions: 6 }));
    h.runner.track('ns/shop');
    await until(() => h.runner.latest('ns/shop') !== undefined);
    h.runner.untrack('ns/shop');
    expect(h.runner.latest('ns/shop')).toBeUndefined();
    await h.runner.stop();
  });

  it('runs no duty for a pipeline the policy refuses (the binlog duty would connect to its host)', async () => {
    let reads = 0;
    const h = harness(
      () => {
        reads++;
        return { kind: 'no-committed-offsets', partitions: 6 };
      },
      { images: ['payment-pipeline'], mysqlHosts: ['mariadb.payments.svc'] },
    );
    h.runner.track('ns/shop');
    await new Promise((r) => setTimeout(r, 150));
    expect(reads).toBe(0);
    expect(h.runner.latest('ns/shop')).toBeUndefined();
    await h.runner.stop();
  });
});
