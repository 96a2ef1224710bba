import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../operator/controller/metrics.ts';
import { createAutoscalerMetrics } from '../../operator/duties/autoscaler/metrics.ts';
import { createBinlogMetrics } from '../../operator/duties/binlog/metrics.ts';
import { createRegistry, startOpsServer } from '../../runtime/core/metrics.ts';
import { apiClient } from '../e2e/api-client.ts';
import { eventually, freePort, type Pipeline, startPipeline } from '../e2e/harness.ts';
import { uniqueSuffix } from '../support/env.ts';

// Every panel query of the chart's Grafana dashboard, run by a real Prometheus (Debian's package,
// started by dev/stack.sh as `WITH_PROMETHEUS=1 make up` does) that scrapes a real api, producer and
// consumer after a short workload: each query must compile and return at least one series, with
// the labels it groups by. That catches typos, metrics that do not exist and wrong label names.
// The same Prometheus loads the alert rules: each must evaluate without error and read only metrics
// the services expose (a rule on a misspelt metric would pass its promtool tests and never fire).
//
// The operator is not run against a control plane here: its panels are checked against the
// operator's registered metrics — the same metric factories operator/main.ts registers, fed through
// their own recorder methods and served by the same ops server — which this Prometheus scrapes too.

const ROOT = new URL('../..', import.meta.url).pathname;
const DASHBOARD = join(ROOT, 'helm/dashboards/payment-pipeline.json');
/** What the target labels say (a Kubernetes scrape's namespace/pod; the operator's pipeline labels). */
const NAMESPACE = 'pp-dash';
const PIPELINE = 'payments';

type Target = { expr?: string; refId?: string };
type Panel = { title?: string; type?: string; targets?: Target[]; panels?: Panel[] };
type Series = { metric: Record<string, string> };

/** Every (panel, expr) of the dashboard, rows' nested panels included. */
function panelQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/**
 * Grafana's variables as Grafana would fill them for this stack: the dashboard's template variables
 * with the one namespace and pipeline there are, `$__rate_interval` as Grafana computes it for a
 * 1 s scrape interval on a short time range (at least four scrape intervals), raised to 20s so that a
 * scrape that comes late still leaves two samples in the window.
 */
function substitute(expr: string): string {
  const vars: Record<string, string> = {
    namespace: NAMESPACE,
    pipeline: PIPELINE,
    __rate_interval: '20s',
    __interval: '5s',
    __range: '5m',
  };
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string, bare: string) => {
    const name = braced ?? bare;
    const value = vars[name];
    if (value === undefined) throw new Error(`unknown dashboard variable ${whole} in ${expr}`);
    return value;
  });
}

/** The labels the outermost aggregation keeps (`sum by (a, b) (...)`), minus histogram buckets. */
function groupingLabels(expr: string): string[] {
  const m = /\bby\s*\(([^)]*)\)/.exec(expr);
  if (!m?.[1]) return [];
  return m[1]
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'le');
}

/** PromQL functions and keywords that look like metric names (an underscore in them). */
const PROMQL_WORDS = new Set(['histogram_quantile', 'clamp_min', 'clamp_max', 'label_replace', 'label_join']);

/** The metric names an expression selects: identifiers outside label matchers, ranges and groupings. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const words = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => w.includes('_') && !PROMQL_WORDS.has(w)))];
}

let pipeline: Pipeline;
let operatorOps: Server;
let promUrl = '';
let promEnv: Record<string, string> = {};

function stack(action: 'start' | 'stop'): string {
  const r = spawnSync(join(ROOT, 'dev/stack.sh'), [action, 'prometheus'], {
    cwd: ROOT,
    env: { ...process.env, ...promEnv },
    encoding: 'utf8',
  });
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`dev/stack.sh ${action} prometheus failed:\n${output}`);
  return output;
}

async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: Series[] } }> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as { status: string; error?: string; data?: { result: Series[] } };
}

beforeAll(async () => {
  pipeline = await startPipeline({ partitions: 1 });

  // The operator's registry as operator/main.ts builds it, with one pipeline's worth of series.
  const registry = createRegistry('operator');
  const op = createOperatorMetrics(registry);
  const autoscaler = createAutoscalerMetrics(registry);
  const binlog = createBinlogMetrics(registry);
  op.reconcileDuration.startTimer()({ result: 'success' });
  op.queueDepth.set(0);
  op.leader.set(1);
  op.childChanges.inc({ kind: 'Deployment', change: 'created' });
  autoscaler.observe(
    NAMESPACE,
    PIPELINE,
    { desired: 2, reason: 'ScaledUp', message: 'lag above the threshold', memory: { window: [] } },
    1,
    { kind: 'lag', total: 1200n, partitions: 6, uncommittedPartitions: 0 },
  );
  autoscaler.scaled(NAMESPACE, PIPELINE, 'up');
  binlog.position(NAMESPACE, PIPELINE, true, 0);
  binlog.step(NAMESPACE, PIPELINE, 'StartFromApplied');
  const operatorPort = await freePort();
  operatorOps = await startOpsServer({ registry, port: operatorPort, ready: () => true });

  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  promEnv = {
    STACK_NAME: 'test',
    STACK_DIR: join(ROOT, '.local', 'tmp', `prometheus-${uniqueSuffix()}`),
    PROMETHEUS_PORT: String(port),
    PROMETHEUS_SCRAPE_INTERVAL: '1s',
    PROMETHEUS_NAMESPACE: NAMESPACE,
    // The ports /metrics answers on (the harness watches each service on that port).
    API_OPS_PORT: String(pipeline.api.port),
    PRODUCER_METRICS_PORT: String(pipeline.producer.port),
    CONSUMER_METRICS_PORT: String(pipeline.consumer.port),
    OPERATOR_OPS_PORT: String(operatorPort),
  };
  stack('start');
  await eventually(
    'every scrape target up',
    () => query('up'),
    (r) =>
      r.data?.result.length === 4 &&
      r.data.result.every((s) => (s as { value?: [number, string] }).value?.[1] === '1'),
    60_000,
  );

  // The workload: a purchase, its payment confirmed, the user's package read until Redis has it.
  const api = apiClient(pipeline.apiUrl);
  const user = `u_dash_${uniqueSuffix()}`;
  const created = await api.createPurchase(user, 'pkg_plus');
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const paymentId = (created.body.payment as { id: string }).id;
  const confirmed = await api.confirm(user, paymentId);
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  await eventually(
    'the paid purchase in the package',
    () => api.purchases(user),
    (r) => r.status === 200 && JSON.stringify(r.body).includes('"paid":true'),
  );
  await api.purchases(user); // a second read: the near cache answers this one
}, 240_000);

afterAll(async () => {
  if (promUrl) {
    stack('stop');
    // Its data, config and pid file.
    if (promEnv.STACK_DIR) rmSync(promEnv.STACK_DIR, { recursive: true, force: true });
  }
  await new Promise<void>((resolve) => (operatorOps ? operatorOps.close(() => resolve()) : resolve()));
  await pipeline?.teardown();
}, 120_000);

describe('the Grafana dashboard against a real Prometheus', () => {
  const queries = panelQueries();

  it('has panel queries to check', () => {
    expect(queries.length).toBeGreaterThan(20);
  });

  it('every panel query returns series with the labels it groups by', async () => {
    // Series created by the workload need two scrapes inside the rate window.
    await new Promise((r) => setTimeout(r, 5000));
    const failures: string[] = [];
    await eventually(
      'every panel query answering',
      async () => {
        failures.length = 0;
        for (const { panel, expr } of queries) {
          const promql = substitute(expr);
          const r = await query(promql);
          if (r.status !== 'success') {
            failures.push(`${panel}: ${promql}: ${r.error}`);
            continue;
          }
          const result = r.data?.result ?? [];
          if (result.length === 0) {
            failures.push(`${panel}: ${promql}: no series`);
            continue;
          }
          for (const label of groupingLabels(expr)) {
            if (!result.every((s) => s.metric[label])) {
              failures.push(`${panel}: ${promql}: a series without the label "${label}"`);
            }
          }
        }
        return failures;
      },
      (f) => f.length === 0,
      30_000,
    ).catch(() => undefined);
    expect(failures).toEqual([]);
  }, 120_000);

  it('evaluates the alert rules against the live series without errors; the streaming producer reads 1', async () => {
    type Rule = { name: string; query: string; health: string; lastError?: string };
    const rules = await eventually(
      'every alert rule evaluated',
      async () => {
        const body = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
          data: { groups: { rules: Rule[] }[] };
        };
        return body.data.groups.flatMap((g) => g.rules);
      },
      (r) => r.length > 0 && r.every((rule) => rule.health !== 'unknown'),
      30_000,
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(rules.map((r) => r.name)).toContain('PaymentPipelineConsistencySLOFastBurn');
    // A rule whose metric does not exist evaluates fine and never fires: every metric a rule reads
    // must be one the running services expose (the rules' own label names are in their promtool tests).
    const missing: string[] = [];
    for (const rule of rules) {
      const names = metricNames(rule.query);
      expect(names.length, rule.query).toBeGreaterThan(0);
      for (const name of names) {
        const r = await query(`count({__name__="${name}", namespace="${NAMESPACE}"})`);
        if ((r.data?.result.length ?? 0) === 0) missing.push(`${rule.name}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    const streaming = await query(`max(producer_streaming{namespace="${NAMESPACE}"})`);
    expect((streaming.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1]).toBe('1');
  });
});
