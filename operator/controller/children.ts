import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1NetworkPolicyPeer,
  V1PodDisruptionBudget,
  V1Service,
} from '@kubernetes/client-node';
import { PIPELINE_API_VERSION, PIPELINE_KIND } from '../api/v1alpha1/group.ts';
import type { PipelineSpec } from '../api/v1alpha1/spec.ts';
import { API_PORT, componentEnv, type EnvEntry, METRICS_PORT, MYSQL_CA_DIR } from './component-env.ts';
import {
  CONFIG_HASH_ANNOTATION,
  type Component,
  childName,
  componentLabels,
  instanceLabels,
  selectorLabels,
} from './labels.ts';

/**
 * The children a PaymentPipeline wants, as full objects for server-side apply. Pure: the same spec
 * always gives the same objects, which is what makes re-applying them a no-op and drift visible.
 *
 * Contract with the services' images (docs/operator.md): `node runtime/<component>/main.ts`, the API
 * on API_PORT (8080), and an ops server on every component (API_OPS_PORT / *_METRICS_PORT, 9464,
 * port name `metrics`) with /metrics, /healthz and /readyz. Their environment: operator/component-env.ts.
 */

export type PipelineRef = { name: string; namespace: string; uid: string };
export type ChildOptions = {
  consumerReplicas?: number;
  /** 0 while a startFrom change needs the producer stopped (operator/binlog/procedure.ts); default 1. */
  producerReplicas?: 0 | 1;
};

function ownerReference(p: PipelineRef) {
  return {
    apiVersion: PIPELINE_API_VERSION,
    kind: PIPELINE_KIND,
    name: p.name,
    uid: p.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function meta(p: PipelineRef, name: string, labels: Record<string, string>) {
  return { name, namespace: p.namespace, labels, ownerReferences: [ownerReference(p)] };
}

const COMPONENTS: readonly Component[] = ['producer', 'consumer', 'api'];

/**
 * Non-secret settings of all three components, under the names the services read. One ConfigMap
 * for the pipeline; each container takes only its own keys from it (configMapKeyRef, not envFrom),
 * so no service is handed another one's variables.
 */
export function configData(spec: PipelineSpec): Record<string, string> {
  const data: Record<string, string> = {};
  for (const component of COMPONENTS) {
    for (const e of componentEnv(spec, component)) {
      if (!('setting' in e)) continue;
      const seen = data[e.name];
      if (seen !== undefined && seen !== e.setting) {
        throw new Error(`${e.name} would differ between components (${seen} / ${e.setting})`);
      }
      data[e.name] = e.setting;
    }
  }
  return data;
}

function containerEnv(entries: EnvEntry<string>[], configMap: string): V1EnvVar[] {
  return entries.map((e): V1EnvVar => {
    if ('setting' in e)
      return { name: e.name, valueFrom: { configMapKeyRef: { name: configMap, key: e.name } } };
    if ('secret' in e) {
      const { name, key, optional } = e.secret;
      return { name: e.name, valueFrom: { secretKeyRef: { name, key, ...(optional ? { optional } : {}) } } };
    }
    return { name: e.name, value: e.composed };
  });
}

/** A component's pods roll when its own environment changes, not when another component's does. */
const envHash = (entries: EnvEntry<string>[]) =>
  createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);

function container(
  spec: PipelineSpec,
  p: PipelineRef,
  component: Component,
  entries: EnvEntry<string>[],
): V1Container {
  // Probes and scrapes go to the ops port on every component; the api also serves its API on `http`.
  const ops = { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' };
  const ports =
    component === 'api' ? [{ name: 'http', containerPort: API_PORT, protocol: 'TCP' }, ops] : [ops];
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: ops.name },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  const resources = component === 'api' ? spec.api.resources : spec[component].resources;
  return {
    name: component,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    command: ['node', `runtime/${component}/main.ts`],
    ports,
    env: containerEnv(entries, childName(p.name, 'config')),
    ...(spec.mysql.tls?.caSecret
      ? { volumeMounts: [{ name: 'mysql-tls', mountPath: MYSQL_CA_DIR, readOnly: true }] }
      : {}),
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 6),
    startupProbe: probe('/healthz', 2, 30),
    ...(resources ? { resources } : {}),
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

function deployment(
  spec: PipelineSpec,
  p: PipelineRef,
  component: Component,
  replicas: number,
): V1Deployment {
  const entries = componentEnv(spec, component);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(p, childName(p.name, component), componentLabels(p.name, component)),
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(p.name, component) },
      // The producer must never run twice (two binlog readers, one checkpoint): Recreate stops the old
      // pod before the new one starts. The others roll without losing capacity.
      strategy:
        component === 'producer'
          ? { type: 'Recreate' }
          : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 5,
      template: {
        metadata: {
          labels: componentLabels(p.name, component),
          annotations: { [CONFIG_HASH_ANNOTATION]: envHash(entries) },
        },
        spec: {
          containers: [container(spec, p, component, entries)],
          ...(spec.mysql.tls?.caSecret
            ? {
                volumes: [
                  {
                    name: 'mysql-tls',
                    secret: {
                      secretName: spec.mysql.tls.caSecret,
                      items: [{ key: 'ca.crt', path: 'ca.crt' }],
                    },
                  },
                ],
              }
            : {}),
          terminationGracePeriodSeconds: 45,
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            // The container runtime's default syscall filter (Pod Security "restricted" requires it).
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      },
    },
  };
}

function pdb(p: PipelineRef, component: Component): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(p, childName(p.name, component), componentLabels(p.name, component)),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(p.name, component) } },
  };
}

type NetworkPeer = NonNullable<PipelineSpec['networkPolicy']['apiFrom']>[number];
const peer = (p: NetworkPeer): V1NetworkPolicyPeer => ({
  ...(p.namespaceLabels ? { namespaceSelector: { matchLabels: p.namespaceLabels } } : {}),
  ...(p.podLabels ? { podSelector: { matchLabels: p.podLabels } } : {}),
});

/**
 * Ingress to the pipeline's pods only on their named ports: `http` (the api, /metrics included) and
 * `metrics` (producer, consumer). Egress stays open: MySQL, Kafka and Redis are endpoints outside
 * the operator's knowledge. Kubelet probes come from the node and are not subject to it.
 */
export function networkPolicy(p: PipelineRef, spec: PipelineSpec): KubernetesObject & { spec: unknown } {
  // Written as the API server reads it (`from`; client-node's model calls it `_from`).
  const rule = (port: string, from: NetworkPeer[] | undefined) => ({
    ports: [{ port, protocol: 'TCP' }],
    ...(from ? { from: from.map(peer) } : {}),
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(p, childName(p.name, 'pods'), instanceLabels(p.name)),
    spec: {
      podSelector: { matchLabels: instanceLabels(p.name) },
      policyTypes: ['Ingress'],
      ingress: [rule('http', spec.networkPolicy.apiFrom), rule('metrics', spec.networkPolicy.metricsFrom)],
    },
  };
}

export function desiredChildren(
  p: PipelineRef,
  spec: PipelineSpec,
  opts: ChildOptions = {},
): KubernetesObject[] {
  const data = configData(spec);
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(p, childName(p.name, 'config'), instanceLabels(p.name)),
    data,
  };
  const apiService: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    // Not a scrape target: the api's /metrics is on its ops port, behind the metrics Service below.
    metadata: meta(p, childName(p.name, 'api'), componentLabels(p.name, 'api')),
    spec: {
      type: spec.api.service.type,
      selector: selectorLabels(p.name, 'api'),
      ports: [{ name: 'http', port: spec.api.service.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  // Headless: one scrape target per pod (producer, consumer and api), for Prometheus or the ServiceMonitor.
  const metricsService: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(p, childName(p.name, 'metrics'), {
      ...instanceLabels(p.name),
      'payments.example.com/metrics': 'true',
    }),
    spec: {
      clusterIP: 'None',
      selector: {
        'app.kubernetes.io/instance': p.name,
        'app.kubernetes.io/managed-by': instanceLabels(p.name)['app.kubernetes.io/managed-by'] ?? '',
      },
      ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }],
    },
  };
  const children: KubernetesObject[] = [
    configMap,
    deployment(spec, p, 'producer', opts.producerReplicas ?? 1),
    deployment(spec, p, 'consumer', opts.consumerReplicas ?? spec.consumer.minReplicas),
    deployment(spec, p, 'api', spec.api.replicas),
    apiService,
    metricsService,
    // No PDB for the producer: with exactly one pod any budget either blocks node drains forever or
    // allows nothing; Recreate + the checkpoint make its restarts safe instead.
    pdb(p, 'consumer'),
    pdb(p, 'api'),
  ];
  if (spec.monitoring.serviceMonitor) children.push(serviceMonitor(p, spec));
  if (spec.networkPolicy.enabled) children.push(networkPolicy(p, spec));
  return children;
}

export function serviceMonitor(p: PipelineRef, spec: PipelineSpec): KubernetesObject & { spec: unknown } {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(p, childName(p.name, 'metrics'), {
      ...instanceLabels(p.name),
      ...(spec.monitoring.labels ?? {}),
    }),
    spec: {
      selector: {
        matchLabels: { 'app.kubernetes.io/instance': p.name, 'payments.example.com/metrics': 'true' },
      },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    },
  };
}
