import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type PipelineSpec, pipelineSpec } from '../../api/v1alpha1/spec.ts';
import { consumerGroupOf, createAutoscalingDuty } from './duty.ts';
import type { GroupLag } from './lag-reader.ts';
import { createAutoscalerMetrics } from './metrics.ts';
import type { LagObservation } from './types.ts';

const spec: PipelineSpec = pipelineSpec.parse({
  image: 'payments:dev',
  mysql: {
    host: 'db',
    database: 'payments',
    credentialsSecret: 'db',
    serverId: 7,
    tables: ['purchases', 'payments'],
  },
  kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay', partitions: 6 },
  redis: { url: 'redis://r:6379' },
  consumer: { minReplicas: 1, maxReplicas: 6, lagThreshold: 100, scaleDownStabilizationSeconds: 60 },
  api: { authSecret: 'jwt' },
});
const key = { namespace: 'ns', name: 'p1' };

function harness(observations: LagObservation[]) {
  let t = 0;
  const registry = new Registry();
  const duty = createAutoscalingDuty({
    lagOf: async (): Promise<GroupLag> => ({
      observation: observations.shift() ?? { kind: 'unavailable', message: 'x' },
      partitions: [],
    }),
    metrics: createAutoscalerMetrics(registry),
    now: () => t,
  });
  return { duty, registry, advance: (ms: number) => (t += ms) };
}
const lag = (total: bigint): LagObservation => ({
  kind: 'lag',
  total,
  partitions: 6,
  uncommittedPartitions: 0,
});

describe('consumerGroupOf', () => {
  it('uses the consumer default group and Debezium topic names', () => {
    expect(consumerGroupOf(spec)).toEqual({
      groupId: 'pay.consumer',
      topics: ['pay.payments.purchases', 'pay.payments.payments'],
    });
  });
});

describe('autoscaling duty', () => {
  it('scales, records status, an Event only on change and every decision as a metric', async () => {
    const h = harness([lag(450n), lag(450n), lag(0n), lag(0n)]);
    const up = await h.duty.evaluate(key, spec, { specReplicas: 1, statusReplicas: 1 });
    expect(up).toMatchObject({
      replicas: 5,
      status: {
        desiredReplicas: 5,
        currentReplicas: 1,
        lag: 450,
        lagState: 'Known',
        lastScaleTime: '1970-01-01T00:00:00Z',
      },
    });
    expect(up.event).toMatchObject({ reason: 'ScaledUp' });
    h.advance(1000);
    const steady = await h.duty.evaluate(key, spec, {
      specReplicas: 5,
      statusReplicas: 5,
      lastScaleTime: up.status.lastScaleTime,
    });
    expect(steady.event).toBeUndefined();
    expect(steady.status.lastScaleTime).toBe('1970-01-01T00:00:00Z');
    h.advance(1000);
    expect((await h.duty.evaluate(key, spec, { specReplicas: 5, statusReplicas: 5 })).replicas).toBe(5);
    h.advance(60_000);
    const down = await h.duty.evaluate(key, spec, { specReplicas: 5, statusReplicas: 5 });
    expect(down).toMatchObject({ replicas: 1, event: { reason: 'ScaledDown' } });

    const text = await h.registry.metrics();
    expect(text).toContain(
      'payments_operator_scaling_decisions_total{pipeline_namespace="ns",pipeline="p1",reason="ScaledUp"} 1',
    );
    expect(text).toContain(
      'payments_operator_scaling_decisions_total{pipeline_namespace="ns",pipeline="p1",reason="Stabilizing"} 1',
    );
    expect(text).toContain(
      'payments_operator_scale_events_total{pipeline_namespace="ns",pipeline="p1",direction="down"} 1',
    );
    expect(text).toContain(
      'payments_operator_consumer_desired_replicas{pipeline_namespace="ns",pipeline="p1"} 1',
    );
    expect(text).toContain('payments_operator_consumer_lag{pipeline_namespace="ns",pipeline="p1"} 0');
  });

  it('reports a hold state once, without a lag number', async () => {
    const h = harness([
      { kind: 'no-committed-offsets', partitions: 6 },
      { kind: 'no-committed-offsets', partitions: 6 },
    ]);
    const first = await h.duty.evaluate(key, spec, { specReplicas: 2, statusReplicas: 2 });
    expect(first).toMatchObject({ replicas: 2, event: { reason: 'NoCommittedOffsets' } });
    expect(first.status.lag).toBeUndefined();
    expect(first.status.lagState).toBe('NoCommittedOffsets');
    const second = await h.duty.evaluate(key, spec, { specReplicas: 2, statusReplicas: 2 });
    expect(second.event).toBeUndefined();
    expect(await h.registry.metrics()).toContain(
      'payments_operator_consumer_lag_known{pipeline_namespace="ns",pipeline="p1"} 0',
    );
  });
});
