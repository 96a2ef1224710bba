import { Counter, Gauge, type Registry } from 'prom-client';
import type { ScaleDecision } from './decide.ts';
import type { LagObservation } from './types.ts';

export type AutoscalerMetrics = ReturnType<typeof createAutoscalerMetrics>;

/** Autoscaler series, labelled by pipeline (namespace/name), in the operator's registry. */
export function createAutoscalerMetrics(registry: Registry) {
  // Not `namespace`: Prometheus reserves that target label for the operator pod's own namespace.
  const labelNames = ['pipeline_namespace', 'pipeline'] as const;
  const decisions = new Counter({
    name: 'payments_operator_scaling_decisions_total',
    help: 'Autoscaler decisions by reason (ScaledUp, ScaledDown, Stabilizing, Steady, NoCommittedOffsets, ...)',
    labelNames: [...labelNames, 'reason'],
    registers: [registry],
  });
  const desired = new Gauge({
    name: 'payments_operator_consumer_desired_replicas',
    help: 'Consumer replicas the autoscaler wants',
    labelNames,
    registers: [registry],
  });
  const current = new Gauge({
    name: 'payments_operator_consumer_current_replicas',
    help: 'Consumer replicas the Deployment had when the decision was taken',
    labelNames,
    registers: [registry],
  });
  const lag = new Gauge({
    name: 'payments_operator_consumer_lag',
    help: 'Total consumer-group lag (messages) read from the broker; absent while unknown',
    labelNames,
    registers: [registry],
  });
  const lagKnown = new Gauge({
    name: 'payments_operator_consumer_lag_known',
    help: '1 when the lag could be computed, 0 when the group has no committed offsets, topics are missing or the broker is unreachable',
    labelNames,
    registers: [registry],
  });
  const scaleEvents = new Counter({
    name: 'payments_operator_scale_events_total',
    help: 'Consumer replica changes made by the autoscaler, by direction',
    labelNames: [...labelNames, 'direction'],
    registers: [registry],
  });
  return {
    scaled(ns: string, name: string, direction: 'up' | 'down') {
      scaleEvents.inc({ pipeline_namespace: ns, pipeline: name, direction });
    },
    observe(ns: string, name: string, d: ScaleDecision, currentReplicas: number, obs: LagObservation) {
      const l = { pipeline_namespace: ns, pipeline: name };
      decisions.inc({ ...l, reason: d.reason });
      desired.set(l, d.desired);
      current.set(l, currentReplicas);
      lagKnown.set(l, obs.kind === 'lag' ? 1 : 0);
      // Number() only for the exposition format; precision beyond 2^53 messages is moot there.
      if (obs.kind === 'lag') lag.set(l, Number(obs.total));
      else lag.remove(l);
    },
    /** Drops the series of a deleted pipeline. */
    forget(ns: string, name: string) {
      const l = { pipeline_namespace: ns, pipeline: name };
      for (const g of [desired, current, lag, lagKnown]) g.remove(l);
    },
  };
}
