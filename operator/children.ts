import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodDisruptionBudget,
  V1Service,
} from '@kubernetes/client-node';
import {
  PIPELINE_API_VERSION,
  PIPELINE_KIND,
  type PipelineSpec,
} from '../runtime/core/config/pipeline-spec.ts';
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
 * on API_PORT (8080) with /metrics, producer and consumer ops servers on their *_METRICS_PORT (9464),
 * and /healthz + /readyz on each.
 */

export type PipelineRef = { name: string; namespace: string; uid: string };
export type ChildOptions = {
  consumerReplicas?: number;
  /** 0 while a startFrom change needs the producer stopped (operator/binlog/procedure.ts); default 1. */
  producerReplicas?: 0 | 1;
};

export const API_PORT = 8080;
export const METRICS_PORT = 9464;

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

/** Non-secret settings, shared by the three components through envFrom. */
export function configData(spec: PipelineSpec): Record<string, string> {
  const data: Record<string, string> = {
    LOG_LEVEL: spec.logLevel,
    MYSQL_HOST: spec.mysql.host,
    MYSQL_PORT: String(spec.mysql.port),
    MYSQL_DATABASE: spec.mysql.database,
    MYSQL_SERVER_ID: String(spec.mysql.serverId),
    MYSQL_TABLES: spec.mysql.tables.join(','),
    KAFKA_BROKERS: spec.kafka.bootstrap.join(','),
    TOPIC_PREFIX: spec.kafka.topicPrefix,
    KAFKA_PARTITIONS: String(spec.kafka.partitions),
    KAFKA_REPLICATION_FACTOR: String(spec.kafka.replicationFactor),
    REDIS_MODE: spec.redis.mode,
    REDIS_KEY_PREFIX: spec.redis.keyPrefix,
    PRODUCER_START_FROM: spec.producer.startFrom.kind,
    PRODUCER_SNAPSHOT_MODE: spec.producer.snapshot,
    API_PORT: String(API_PORT),
    PRODUCER_METRICS_PORT: String(METRICS_PORT),
    CONSUMER_METRICS_PORT: String(METRICS_PORT),
  };
  const sf = spec.producer.startFrom;
  if (sf.timestamp) data.PRODUCER_START_TIMESTAMP = sf.timestamp;
  if (sf.file) data.PRODUCER_START_FILE = sf.file;
  if (sf.pos !== undefined) data.PRODUCER_START_POS = String(sf.pos);
  if (sf.gtid) data.PRODUCER_START_GTID = sf.gtid;
  if (spec.redis.url) data.REDIS_URL = spec.redis.url;
  if (spec.redis.sentinelMaster) data.REDIS_SENTINEL_MASTER = spec.redis.sentinelMaster;
  return data;
}

const secretEnv = (name: string, secret: string, key: string): V1EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

/**
 * Credentials come from the user's Secrets as separate variables and are composed into URLs by the
 * kubelet's $(VAR) expansion, so no secret value ever passes through the operator or a ConfigMap.
 * (Passwords must therefore be URL-safe; see docs/operator.md.)
 */
function credentialEnv(spec: PipelineSpec, component: Component): V1EnvVar[] {
  const db = spec.mysql.credentialsSecret;
  const env: V1EnvVar[] = [];
  if (component === 'producer') {
    env.push(
      secretEnv('MYSQL_CDC_USER', db, 'cdcUsername'),
      secretEnv('MYSQL_CDC_PASSWORD', db, 'cdcPassword'),
      {
        name: 'MYSQL_CDC_URL',
        value:
          'mysql://$(MYSQL_CDC_USER):$(MYSQL_CDC_PASSWORD)@$(MYSQL_HOST):$(MYSQL_PORT)/$(MYSQL_DATABASE)',
      },
    );
  }
  if (component === 'api') {
    env.push(secretEnv('MYSQL_USER', db, 'username'), secretEnv('MYSQL_PASSWORD', db, 'password'), {
      name: 'MYSQL_URL',
      value: 'mysql://$(MYSQL_USER):$(MYSQL_PASSWORD)@$(MYSQL_HOST):$(MYSQL_PORT)/$(MYSQL_DATABASE)',
    });
    env.push(secretEnv('AUTH_JWT_SECRET', spec.api.authSecret, 'jwtSecret'));
  }
  if (component !== 'producer' && spec.redis.secretName) {
    env.push(secretEnv('REDIS_URL', spec.redis.secretName, 'url'));
  }
  return env;
}

function container(spec: PipelineSpec, p: PipelineRef, component: Component): V1Container {
  const port =
    component === 'api'
      ? { name: 'http', containerPort: API_PORT }
      : { name: 'metrics', containerPort: METRICS_PORT };
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: port.name },
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
    ports: [{ ...port, protocol: 'TCP' }],
    envFrom: [{ configMapRef: { name: childName(p.name, 'config') } }],
    env: credentialEnv(spec, component),
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
  configHash: string,
): V1Deployment {
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
          annotations: { [CONFIG_HASH_ANNOTATION]: configHash },
        },
        spec: {
          containers: [container(spec, p, component)],
          terminationGracePeriodSeconds: 45,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
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

export function desiredChildren(
  p: PipelineRef,
  spec: PipelineSpec,
  opts: ChildOptions = {},
): KubernetesObject[] {
  const data = configData(spec);
  const configHash = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(p, childName(p.name, 'config'), instanceLabels(p.name)),
    data,
  };
  const apiService: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(p, childName(p.name, 'api'), {
      ...componentLabels(p.name, 'api'),
      'payments.example.com/metrics': 'true',
    }),
    spec: {
      type: spec.api.service.type,
      selector: selectorLabels(p.name, 'api'),
      ports: [{ name: 'http', port: spec.api.service.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  // Headless: one scrape target per producer/consumer pod, for Prometheus or the ServiceMonitor.
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
    deployment(spec, p, 'producer', opts.producerReplicas ?? 1, configHash),
    deployment(spec, p, 'consumer', opts.consumerReplicas ?? spec.consumer.minReplicas, configHash),
    deployment(spec, p, 'api', spec.api.replicas, configHash),
    apiService,
    metricsService,
    // No PDB for the producer: with exactly one pod any budget either blocks node drains forever or
    // allows nothing; Recreate + the checkpoint make its restarts safe instead.
    pdb(p, 'consumer'),
    pdb(p, 'api'),
  ];
  if (spec.monitoring.serviceMonitor) children.push(serviceMonitor(p, spec));
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
      endpoints: [
        { port: 'http', path: '/metrics', interval: '30s' },
        { port: 'metrics', path: '/metrics', interval: '30s' },
      ],
    },
  };
}
