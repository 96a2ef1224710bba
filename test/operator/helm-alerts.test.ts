import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The chart's PrometheusRule (templates/prometheusrule.yaml), rendered by the real `helm template`
// (found as in helm.test.ts): off by default, and when on its spec is the plain rules file
// (helm/alerts/payment-pipeline.rules.yaml) verbatim, which promtool accepts as rendered.

const helmBin = `${process.cwd()}/.local/bin/helm`;
const RULES = 'helm/alerts/payment-pipeline.rules.yaml';

function helm(args: string[]): string {
  if (!existsSync(helmBin)) throw new Error(`${helmBin} is missing: run dev/cluster.sh build`);
  try {
    return execFileSync(helmBin, args, { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`);
  }
}

describe('helm chart: PrometheusRule', () => {
  it('is not rendered unless prometheusRule.enabled', () => {
    expect(helm(['template', 'ppo', 'helm', '--namespace', 'payments'])).not.toContain(
      'kind: PrometheusRule',
    );
  });

  it('embeds the rules file verbatim, with the labels a ruleSelector matches', () => {
    const out = helm([
      'template',
      'ppo',
      'helm',
      '--namespace',
      'payments',
      '--set',
      'prometheusRule.enabled=true',
      '--set',
      'prometheusRule.labels.release=kube-prometheus-stack',
      '--show-only',
      'templates/prometheusrule.yaml',
    ]);
    expect(out).toContain('apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n');
    expect(out).toMatch(/\n {2}namespace: payments\n/);
    expect(out).toMatch(/\n {4}release: kube-prometheus-stack\n/);
    // Helm left the rules' own templates ({{ $labels.namespace }}) alone.
    expect(out).toContain('{{ $labels.namespace }}');
    const at = out.indexOf('\nspec:\n');
    expect(at).toBeGreaterThan(0);
    const spec = out
      .slice(at + '\nspec:\n'.length)
      .split('\n')
      .map((l) => l.replace(/^ {2}/, ''))
      .join('\n');
    expect(spec.trim()).toBe(readFileSync(RULES, 'utf8').trim());

    const dir = mkdtempSync(join(tmpdir(), 'prometheusrule-'));
    try {
      const file = join(dir, 'rendered.rules.yaml');
      writeFileSync(file, spec);
      const checked = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(checked).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
