import { Counter, Gauge, type Registry } from 'prom-client';

export type BinlogMetrics = ReturnType<typeof createBinlogMetrics>;

/** Producer-position series, labelled by pipeline (namespace/name), in the operator's registry. */
export function createBinlogMetrics(registry: Registry) {
  // Not `namespace`: Prometheus reserves that target label for the operator pod's own namespace.
  const labelNames = ['pipeline_namespace', 'pipeline'] as const;
  const behind = new Gauge({
    name: 'payments_operator_producer_seconds_behind_source',
    help: "Age of the last event in the producer's checkpoint when it is not at the source's head (0 when caught up)",
    labelNames,
    registers: [registry],
  });
  const valid = new Gauge({
    name: 'payments_operator_binlog_position_valid',
    help: "1 when the producer's checkpoint is still on the source server, 0 when purged or unknown to it",
    labelNames,
    registers: [registry],
  });
  const changes = new Counter({
    name: 'payments_operator_start_from_changes_total',
    help: 'startFrom change procedure steps (StartFromChangeStarted, CheckpointRewritten, StartFromApplied, StartFromRefused)',
    labelNames: [...labelNames, 'reason'],
    registers: [registry],
  });
  return {
    position(ns: string, name: string, isValid: boolean, secondsBehind: number | undefined) {
      const l = { pipeline_namespace: ns, pipeline: name };
      valid.set(l, isValid ? 1 : 0);
      if (secondsBehind === undefined) behind.remove(l);
      else behind.set(l, secondsBehind);
    },
    step(ns: string, name: string, reason: string) {
      changes.inc({ pipeline_namespace: ns, pipeline: name, reason });
    },
    forget(ns: string, name: string) {
      const l = { pipeline_namespace: ns, pipeline: name };
      behind.remove(l);
      valid.remove(l);
    },
  };
}
