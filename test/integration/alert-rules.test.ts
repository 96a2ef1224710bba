import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The alert rules (helm/alerts/payment-pipeline.rules.yaml) checked by Prometheus's own tool: the
// file parses and every expression compiles, and each rule's unit tests (series that fire and series
// that must not) pass. promtool is Debian's `prometheus` package, installed with the test stack.

const RULES = 'helm/alerts/payment-pipeline.rules.yaml';
const TESTS = 'helm/alerts/payment-pipeline.rules.test.yaml';

function promtool(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`promtool: ${r.error.message} (install Debian's prometheus package)`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code, r.output).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool(['test', 'rules', TESTS]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('each have a unit test that fires them', () => {
    // promtool passes a rule nobody tests: make sure every alert is expected to fire somewhere.
    const rules = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]);
    const tests = readFileSync(TESTS, 'utf8');
    expect(rules.length).toBeGreaterThan(8);
    for (const name of rules) {
      const firing = new RegExp(`alertname: ${name}\\n\\s*exp_alerts:\\n\\s*- exp_labels`);
      expect(tests, `${name} has no test where it fires`).toMatch(firing);
      const quiet = new RegExp(`alertname: ${name}\\n\\s*exp_alerts: \\[\\]`);
      expect(tests, `${name} has no test where it stays quiet`).toMatch(quiet);
    }
  });
});
