import type { KubernetesObject, V1ConfigMap, V1Container, V1Deployment } from '@kubernetes/client-node';

/**
 * What the kubelet would hand a pod's container as its environment, from the objects the operator
 * applies (runs no cluster: the control plane of the tests has no kubelet, kwok fakes the pods).
 */

export const VAR_REFERENCE = /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g;

export type SecretData = Record<string, Record<string, string>>;

/** envFrom first, then env in order; `$(VAR)` expands only variables defined earlier, as in Kubernetes. */
export function kubeletEnv(
  c: V1Container,
  configMaps: Map<string, Record<string, string>>,
  secrets: SecretData,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const name = from.configMapRef?.name ?? '';
    const data = configMaps.get(name);
    if (!data) throw new Error(`${c.name}: envFrom ConfigMap ${name} is not a child`);
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(VAR_REFERENCE, (m, n: string) => env[n] ?? m);
      continue;
    }
    const cm = e.valueFrom?.configMapKeyRef;
    const sk = e.valueFrom?.secretKeyRef;
    const value = cm
      ? configMaps.get(cm.name ?? '')?.[cm.key]
      : sk
        ? secrets[sk.name ?? '']?.[sk.key]
        : undefined;
    const optional = cm?.optional ?? sk?.optional ?? false;
    if (value === undefined && !optional) throw new Error(`${c.name}: ${e.name} refers to a missing key`);
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

/** The ConfigMaps among the children, by name. */
export function configMapsOf(children: KubernetesObject[]): Map<string, Record<string, string>> {
  return new Map(
    children
      .filter((o): o is V1ConfigMap => o.kind === 'ConfigMap')
      .map((cm) => [cm.metadata?.name ?? '', cm.data ?? {}]),
  );
}

/** The (only) container of the named Deployment among the children. */
export function containerOf(children: KubernetesObject[], deployment: string): V1Container {
  const d = children.find((o) => o.kind === 'Deployment' && o.metadata?.name === deployment) as
    | V1Deployment
    | undefined;
  const c = d?.spec?.template.spec?.containers[0];
  if (!c) throw new Error(`no container in Deployment ${deployment}`);
  return c;
}
