/** REST coordinates of the kinds the operator reads or writes. */
export type Resource = { group: string; version: string; plural: string; kind: string };

/** Built-in kinds (and prometheus-operator's ServiceMonitor); a controller adds its own custom kinds. */
export const KUBE_RESOURCES = {
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  Secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  PodDisruptionBudget: {
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
  },
  NetworkPolicy: {
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
  },
  ServiceMonitor: {
    group: 'monitoring.coreos.com',
    version: 'v1',
    plural: 'servicemonitors',
    kind: 'ServiceMonitor',
  },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
  Event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event' },
} as const satisfies Record<string, Resource>;

/** Kinds by name: which REST coordinates a client uses for an object of that kind. */
export type ResourceTable = Readonly<Record<string, Resource>>;

export function resourceForKind(kind: string, table: ResourceTable = KUBE_RESOURCES): Resource {
  const r = table[kind];
  if (!r) throw new Error(`unknown kind ${kind}`);
  return r;
}

/** `a=1,b=2`: a label selector matching every one of these labels. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** /api/v1[/namespaces/ns]/plural[/name][/sub] or /apis/group/version/... */
export function resourcePath(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  const root = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = subresource ? `/${subresource}` : '';
  return `${root}${ns}/${r.plural}${n}${sub}`;
}
