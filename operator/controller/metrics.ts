import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The operator's own metrics (issue 7 adds the scaling decisions next to these). */
export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

export function createOperatorMetrics(registry: Registry) {
  return {
    reconcileDuration: new Histogram({
      name: 'payments_operator_reconcile_duration_seconds',
      help: 'Time to reconcile one PaymentPipeline',
      labelNames: ['result'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'payments_operator_reconcile_errors_total',
      help: 'Reconciles that failed and were requeued with backoff',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'payments_operator_workqueue_depth',
      help: 'PaymentPipeline keys waiting to be reconciled',
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'payments_operator_informer_restarts_total',
      help: 'Watches or lists that failed and were restarted',
      labelNames: ['resource'] as const,
      registers: [registry],
    }),
    childChanges: new Counter({
      name: 'payments_operator_child_changes_total',
      help: 'Children created, updated for a spec change, or put back after a hand edit',
      labelNames: ['kind', 'change'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'payments_operator_leader',
      help: '1 while this replica holds the leader lease',
      registers: [registry],
    }),
  };
}
