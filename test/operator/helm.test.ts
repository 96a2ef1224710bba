import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type KubernetesObject, loadAllYaml, type V1Deployment } from '@kubernetes/client-node';
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
let ns2 = '';

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

/** `helm template` into ns with the given --set values, without the CRD. */
const template = (...sets: string[]) =>
  run(helmBin, [
    'template',
    'ppo',
    'helm',
    '--namespace',
    ns,
    '--set',
    'crds.install=false',
    ...sets.flatMap((v) => ['--set', v]),
  ]);

const objects = (manifests: string): KubernetesObject[] =>
  loadAllYaml(manifests).filter((o: KubernetesObject | null) => o !== null);

const operatorDeployment = (manifests: string) =>
  objects(manifests).find((o) => o.kind === 'Deployment') as V1Deployment;

const operatorEnv = (manifests: string) =>
  Object.fromEntries(
    (operatorDeployment(manifests).spec?.template.spec?.containers[0]?.env ?? []).map((e) => [
      e.name,
      e.value,
    ]),
  );

/** Every namespaced object of the chart names its namespace (the release's or a watched one). */
const applyInNs = (manifests: string) =>
  kubectl(['apply', '--server-side', '--field-manager=helm-test', '-f', '-'], manifests);

/** `kubectl auth can-i` as the operator's service account: yes/no (it exits 0/1, read the answer). */
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
      `system:serviceaccount:${ns}:ppo-payment-pipeline-operator`,
    ],
    { encoding: 'utf8' },
  ).stdout.trim();

beforeAll(async () => {
  for (const bin of [helmBin, kubectlBin]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run dev/cluster.sh build`);
  }
  await ensureCrd(kube);
  ns = await createNamespace(kube, 'op-helm');
  ns2 = await createNamespace(kube, 'op-helm2');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kube, ns);
  if (ns2) await deleteNamespace(kube, ns2);
});

describe('helm chart', () => {
  it('passes helm lint', () => {
    expect(run(helmBin, ['lint', '--strict', 'helm'])).toContain('0 chart(s) failed');
  });

  it('renders manifests the API server accepts (cluster-wide install, server-side dry run)', () => {
    const manifests = run(helmBin, [
      'template',
      'ppo',
      'helm',
      '--namespace',
      ns,
      '--set',
      'rbac.clusterWide=true',
    ]);
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
    expect(can('watch', 'paymentpipelines.payments.example.com')).toBe('yes');
    expect(can('patch', 'paymentpipelines.payments.example.com', { sub: 'status' })).toBe('yes');
    expect(can('patch', 'deployments.apps')).toBe('yes');
    expect(can('create', 'events.events.k8s.io')).toBe('yes');
    expect(can('update', 'leases.coordination.k8s.io', { name: 'ppo-payment-pipeline-operator' })).toBe(
      'yes',
    );
    // Least privilege without the binlog duty: no Secrets, pods only listed and watched (the
    // components' failing containers), no other Lease, no other namespace.
    expect(can('get', 'secrets')).toBe('no');
    expect(can('list', 'pods')).toBe('yes');
    expect(can('watch', 'pods')).toBe('yes');
    expect(can('get', 'pods')).toBe('no');
    expect(can('create', 'pods')).toBe('no');
    expect(can('delete', 'pods')).toBe('no');
    expect(can('get', 'pods', { sub: 'log' })).toBe('no');
    expect(can('update', 'leases.coordination.k8s.io', { name: 'someone-else' })).toBe('no');
    expect(can('update', 'paymentpipelines.payments.example.com')).toBe('no');
    expect(can('list', 'deployments.apps', { namespace: 'default' })).toBe('no');

    // The binlog-position duty adds exactly: get (never list/watch) Secrets.
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

  it('is namespaced by default: a Role in the release namespace only, and the operator told so', () => {
    const manifests = template('duties.enabled=autoscaler');
    const kinds = objects(manifests).map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}`);
    expect(kinds).not.toContain('ClusterRole/');
    expect(kinds).not.toContain('ClusterRoleBinding/');
    expect(kinds).toEqual(expect.arrayContaining([`Role/${ns}`, `RoleBinding/${ns}`]));
    expect(operatorEnv(manifests).WATCH_NAMESPACE).toBe(ns);
    applyInNs(manifests);
    expect(can('watch', 'paymentpipelines.payments.example.com')).toBe('yes');
    expect(can('patch', 'deployments.apps')).toBe('yes');
    expect(can('watch', 'paymentpipelines.payments.example.com', { namespace: ns2 })).toBe('no');
    expect(can('patch', 'deployments.apps', { namespace: ns2 })).toBe('no');
  });

  it('gives each of watchNamespaces a Role and the operator the list; rbac.clusterWide opts into all', () => {
    const manifests = template(`watchNamespaces={${ns},${ns2}}`, 'duties.enabled=autoscaler\\,binlog');
    const roles = objects(manifests).filter(
      (o) => o.kind === 'Role' && !o.metadata?.name?.endsWith('-election'),
    );
    expect(roles.map((r) => r.metadata?.namespace)).toEqual([ns, ns2]);
    expect(operatorEnv(manifests).WATCH_NAMESPACE).toBe(`${ns},${ns2}`);
    applyInNs(manifests);
    expect(can('patch', 'deployments.apps', { namespace: ns2 })).toBe('yes');
    expect(can('get', 'secrets', { namespace: ns2 })).toBe('yes');
    expect(can('get', 'secrets', { namespace: 'default' })).toBe('no');
    expect(can('patch', 'deployments.apps', { namespace: 'default' })).toBe('no');

    const wide = template('rbac.clusterWide=true');
    expect(objects(wide).map((o) => o.kind)).toEqual(
      expect.arrayContaining(['ClusterRole', 'ClusterRoleBinding']),
    );
    expect(operatorEnv(wide).WATCH_NAMESPACE).toBeUndefined();
    expect(() => template('rbac.clusterWide=true', `watchNamespaces={${ns}}`)).toThrow(
      /rbac.clusterWide watches every namespace/,
    );
  });

  it('passes the image and MySQL host allow-lists to the operator', () => {
    const open = operatorEnv(template());
    expect(open.ALLOWED_IMAGES).toBeUndefined();
    const env = operatorEnv(
      template(
        'policy.allowedImages={registry.example.com/payments/*,payment-pipeline}',
        'policy.allowedMysqlHosts={*.db.example.com}',
      ),
    );
    expect(env.ALLOWED_IMAGES).toBe('registry.example.com/payments/*,payment-pipeline');
    expect(env.ALLOWED_MYSQL_HOSTS).toBe('*.db.example.com');
  });

  it('lets traffic in only to the metrics port, and out only where told when egress is restricted', () => {
    const policy = (manifests: string) =>
      objects(manifests).find((o) => o.kind === 'NetworkPolicy') as
        | (KubernetesObject & { spec: Record<string, unknown> })
        | undefined;
    const open = policy(template());
    expect(open?.spec).toEqual({
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'payment-pipeline-operator',
          'app.kubernetes.io/instance': 'ppo',
        },
      },
      policyTypes: ['Ingress'],
      ingress: [{ ports: [{ port: 9470, protocol: 'TCP' }] }],
    });
    const apiServer = '{"to":[{"ipBlock":{"cidr":"10.0.0.1/32"}}],"ports":[{"port":6443}]}';
    const closed = run(helmBin, [
      ...['template', 'ppo', 'helm', '--namespace', ns, '--set', 'crds.install=false'],
      ...['--set', 'networkPolicy.egress.restrict=true'],
      ...[
        '--set-json',
        'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"monitoring":"true"}}}]',
      ],
    ]);
    const withRule = run(helmBin, [
      ...['template', 'ppo', 'helm', '--namespace', ns, '--set', 'crds.install=false'],
      ...['--set', 'networkPolicy.egress.restrict=true'],
      ...['--set-json', `networkPolicy.egress.rules=[${apiServer}]`],
    ]);
    expect(policy(closed)?.spec).toMatchObject({
      policyTypes: ['Ingress', 'Egress'],
      // client-node's model names the rule's `from` `_from`.
      ingress: [{ _from: [{ namespaceSelector: { matchLabels: { monitoring: 'true' } } }] }],
      egress: [
        {
          ports: [
            { port: 53, protocol: 'UDP' },
            { port: 53, protocol: 'TCP' },
          ],
        },
      ],
    });
    expect((policy(withRule)?.spec.egress as unknown[] | undefined)?.[1]).toEqual(JSON.parse(apiServer));
    expect(policy(template('networkPolicy.enabled=false'))).toBeUndefined();
    applyInNs(withRule);
  });

  it('runs the operator non-root, read-only, under seccomp RuntimeDefault, with no capabilities', () => {
    const pod = operatorDeployment(template()).spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod?.containers[0]?.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      seccompProfile: { type: 'RuntimeDefault' },
      capabilities: { drop: ['ALL'] },
    });
  });
});
