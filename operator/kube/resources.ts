import { PIPELINE_GROUP, PIPELINE_KIND, PIPELINE_PLURAL, PIPELINE_VERSION } from '../api/v1alpha1/group.ts';

/** REST coordinates of the kinds the operator reads or writes. */
export type Resource = { group: string; version: string; plural: string; kind: string };

export const RESOURCES = {
  PaymentPipeline: {
    group: PIPELINE_GROUP,
    version: PIPELINE_VERSION,
    plural: PIPELINE_PLURAL,
    kind: PIPELINE_KIND,
  },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
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

export type ResourceKind = keyof typeof RESOURCES;

export function resourceForKind(kind: string): Resource {
  const r = (RESOURCES as Record<string, Resource>)[kind];
  if (!r) throw new Error(`unknown kind ${kind}`);
  return r;
}

/** /api/v1[/namespaces/ns]/plural[/name][/sub] or /apis/group/version/... */
export function resourcePath(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  const root = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = subresource ? `/${subresource}` : '';
  return `${root}${ns}/${r.plural}${n}${sub}`;
}
