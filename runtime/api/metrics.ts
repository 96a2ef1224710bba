import { Counter, type Registry } from 'prom-client';
import { HotHistogram, type HotHistogramChild } from '../core/hot-histogram.ts';
import type { PackageSource } from './package/read-package.ts';
import type { Recovered } from './payments/recovery.ts';

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export function createApiMetrics(registry: Registry) {
  const requestDuration = new HotHistogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const packageReads = new Counter({
    name: 'api_package_reads_total',
    help: 'Purchase package reads by source: redis (hit), mysql_miss, mysql_behind (fallbacks)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'api_rate_limited_total',
    help: 'Requests refused by the rate limiter, by scope',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  // Every series exists from the start (at 0): a panel shows 0 instead of "no data", and increase()
  // sees the first event (a series that appears at 1 has increased by nothing as far as it knows).
  for (const scope of ['user', 'ip'] as const) rateLimited.inc({ scope }, 0);
  const rateLimiterErrors = new Counter({
    name: 'api_rate_limiter_errors_total',
    help: 'Rate limiter calls that failed (requests are let through)',
    registers: [registry],
  });
  // One child per route/method/status, looked up by a flat key. The set is bounded by the routes
  // times the statuses they answer.
  const durationChildren = new Map<string, HotHistogramChild>();
  // Bound per source: a labelled inc hashes its labels on every call, and this one runs per read.
  const readsBySource: Record<PackageSource, { inc(): void }> = {
    redis: packageReads.labels('redis'),
    mysql_miss: packageReads.labels('mysql_miss'),
    mysql_behind: packageReads.labels('mysql_behind'),
  };
  return {
    observeRequest: (route: string, method: string, status: number, seconds: number) => {
      const key = `${method} ${status} ${route}`;
      let child = durationChildren.get(key);
      if (!child) {
        child = requestDuration.child({ route, method, status: String(status) });
        durationChildren.set(key, child);
      }
      child.observe(seconds);
    },
    packageRead: (source: PackageSource) => readsBySource[source].inc(),
    rateLimited: (scope: string) => rateLimited.inc({ scope }),
    rateLimiterError: () => rateLimiterErrors.inc(),
  };
}

/** Outcomes of the recovery of payments left processing (payments/recovery.ts). */
export function createRecoveryMetrics(registry: Registry) {
  const recovered = new Counter({
    name: 'api_payment_recoveries_total',
    help: 'Payments left processing that the recovery looked at, by what became of them',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const result of Object.keys(RECOVERED)) recovered.inc({ result }, 0); // series from the start
  return (result: Recovered) => recovered.inc({ result });
}

/** Every outcome of the recovery (a Record, so that a new one cannot be left out here). */
const RECOVERED: Record<Recovered, true> = {
  succeeded: true,
  failed: true,
  never_charged: true,
  still_processing: true,
  settled_elsewhere: true,
  provider_error: true,
  refunded: true,
  refund_failed: true,
  refund_never_received: true,
  refund_pending: true,
};

/** Rows the api's maintenance purged, by table (maintenance.ts). */
export function createMaintenanceMetrics(registry: Registry) {
  const purged = new Counter({
    name: 'api_maintenance_purged_rows_total',
    help: 'Rows deleted by the periodic purge: expired idempotency keys, webhook events past their retention',
    labelNames: ['table'] as const,
    registers: [registry],
  });
  const tables = { idempotencyKeys: 'idempotency_keys', webhookEvents: 'webhook_events' } as const;
  // Both series exist from the start, so a purge that never deletes anything still shows 0.
  for (const table of Object.values(tables)) purged.inc({ table }, 0);
  return (table: keyof typeof tables, rows: number) => purged.inc({ table: tables[table] }, rows);
}
