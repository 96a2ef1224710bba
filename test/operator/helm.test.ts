import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteNamespace,
  ensureCrd,
  KUBECONFIG,
  type Kube,
  kubeClient,
  kubeConfig,
} from './support.ts';

// The chart, checked by the real tools: `helm lint`, then its rendering applied to the real API
// server (dry run for the cluster-wide variant, for real for the namespaced one, whose RBAC is then
// probed with `kubectl auth can-i` as the operator's service account).

const BIN = `${process.cwd()}/.local/bin`;
const helmBin = `${BIN}/helm`;
const kubectlBin = `${BIN}/kubectl`;
const kube: Kube = kubeClient(kubeConfig());
let ns = '';

function run(bin: string, args: string[], input?: string): string {
  try {
    return execFileSync(bin, args, {
      input,
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG },
      stdio: 'pipe',
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`);
  }
}

const kubectl = (args: string[], input?: string) =>
  run(kubectlBin, ['--kubeconfig', KUBECONFIG, ...args], input);

beforeAll(async () => {
  for (const bin of [helmBin, kubectlBin]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run dev/cluster.sh build`);
  }
  await ensureCrd(kube);
  ns = await createNamespace(kube, 'op-helm');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kube, ns);
});

describe('helm chart', () => {
  it('passes helm lint', () => {
    expect(run(helmBin, ['lint', '--strict', 'helm'])).toContain('0 chart(s) failed');
  });

  it('renders manifests the API server accepts (cluster-wide install, server-side dry run)', () => {
    const manifests = run(helmBin, ['template', 'ppo', 'helm', '--namespace', ns]);
    expect(manifests).toContain('"kind": "CustomResourceDefinition"'); // the generated CRD is JSON
    for (const kind of ['ClusterRole', 'ClusterRoleBinding', 'Deployment']) {
      expect(manifests).toContain(`kind: ${kind}`);
    }
    const out = kubectl(
      [
        'apply',
        '--dry-run=server',
        '--server-side',
        '--force-conflicts',
        '--field-manager=helm-test',
        '-f',
        '-',
      ],
      manifests,
    );
    expect(out).toContain(
      'customresourcedefinition.apiextensions.k8s.io/paymentpipelines.payments.example.com',
    );
    expect(out).toContain('deployment.apps/ppo-payment-pipeline-operator');
  });

  it('installs a namespaced operator whose service account can do its job and nothing more', () => {
    // RBAC must be enforced for this to mean anything: dev/cluster.sh runs the API server with RBAC.
    const manifests = run(helmBin, [
      'template',
      'ppo',
      'helm',
      '--namespace',
      ns,
      '--set',
      `watchNamespace=${ns}`,
      '--set',
      'crds.install=false',
      '--set',
      'duties.enabled=autoscaler',
    ]);
    expect(manifests).not.toContain('kind: ClusterRole');
    kubectl(['apply', '-n', ns, '--server-side', '--field-manager=helm-test', '-f', '-'], manifests);
    const sa = `system:serviceaccount:${ns}:ppo-payment-pipeline-operator`;
    // `kubectl auth can-i` prints yes/no and exits 0/1: read the answer, not the exit code.
    const can = (
      verb: string,
      resource: string,
      opts: { name?: string; namespace?: string; sub?: string } = {},
    ) =>
      spawnSync(
        kubectlBin,
        [
          '--kubeconfig',
          KUBECONFIG,
          'auth',
          'can-i',
          verb,
          opts.name ? `${resource}/${opts.name}` : resource,
          ...(opts.sub ? [`--subresource=${opts.sub}`] : []),
          '-n',
          opts.namespace ?? ns,
          '--as',
          sa,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(can('watch', 'paymentpipelines.payments.example.com')).toBe('yes');
    expect(can('patch', 'paymentpipelines.payments.example.com', { sub: 'status' })).toBe('yes');
    expect(can('patch', 'deployments.apps')).toBe('yes');
    expect(can('create', 'events.events.k8s.io')).toBe('yes');
    expect(can('update', 'leases.coordination.k8s.io', { name: 'ppo-payment-pipeline-operator' })).toBe(
      'yes',
    );
    // Least privilege without the binlog duty: no Secrets, no pods, no other Lease, no other namespace.
    expect(can('get', 'secrets')).toBe('no');
    expect(can('create', 'pods')).toBe('no');
    expect(can('update', 'leases.coordination.k8s.io', { name: 'someone-else' })).toBe('no');
    expect(can('update', 'paymentpipelines.payments.example.com')).toBe('no');
    expect(can('list', 'deployments.apps', { namespace: 'default' })).toBe('no');

    // The binlog-position duty adds exactly: get (never list/watch) Secrets, list pods.
    const withBinlog = run(helmBin, [
      'template',
      'ppo',
      'helm',
      '--namespace',
      ns,
      '--set',
      `watchNamespace=${ns}`,
      '--set',
      'crds.install=false',
      '--set',
      'duties.enabled=autoscaler\\,binlog',
    ]);
    kubectl(['apply', '-n', ns, '--server-side', '--field-manager=helm-test', '-f', '-'], withBinlog);
    expect(can('get', 'secrets')).toBe('yes');
    expect(can('list', 'pods')).toBe('yes');
    expect(can('list', 'secrets')).toBe('no');
    expect(can('watch', 'secrets')).toBe('no');
    expect(can('create', 'pods')).toBe('no');
  });
});
