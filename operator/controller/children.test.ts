import type { KubernetesObject, V1Container, V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apiEnvSchema } from '../../runtime/api/config.ts';
import { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import { CACHED_TABLES } from '../../runtime/core/cache/rows.ts';
import { parseEnv } from '../../runtime/core/config/env.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import { clusterNodes, redisOptions } from '../../runtime/core/redis/connect.ts';
import { producerEnvSchema } from '../../runtime/producer/config.ts';
import {
  configMapsOf,
  containerOf,
  kubeletEnv,
  type SecretData,
  VAR_REFERENCE,
} from '../../test/support/kubelet-env.ts';
import { type PipelineSpecInput, pipelineSpec } from '../api/v1alpha1/spec.ts';
import { consumerGroupOf } from '../duties/autoscaler/duty.ts';
import { desiredChildren } from './children.ts';
import type { Component } from './labels.ts';
import { consumerGroup, producerName } from './naming.ts';

/**
 * The contract between the operator and the services' images: every variable the operator gives a
 * container is one that service reads (a key of its zod env schema), and the environment the kubelet
 * builds from the pod spec, the ConfigMap and the Secrets parses with that schema.
 */

const ref = { name: 'shop', namespace: 'ns', uid: 'uid-1' };

const base: PipelineSpecInput = {
  image: 'payments:dev',
  mysql: {
    host: 'mariadb.db.svc',
    port: 3307,
    database: 'payments',
    credentialsSecret: 'shop-mysql',
    serverId: 4101,
    tables: ['packages', 'purchases', 'payments'],
  },
  kafka: {
    bootstrap: 'kafka-0:9092,kafka-1:9092',
    topicPrefix: 'pay.eu',
    partitions: 12,
    replicationFactor: 3,
  },
  redis: { url: 'redis://redis.cache.svc:6379/0', keyPrefix: 'pay-eu' },
  producer: { startFrom: { kind: 'latest' }, snapshot: 'when_needed' },
  consumer: { minReplicas: 2, maxReplicas: 6 },
  api: { authSecret: 'shop-auth' },
  logLevel: 'debug',
};

/** Placeholders for the Secrets the pipeline names (the operator never reads them). */
const secrets: SecretData = {
  'shop-mysql': {
    username: 'app',
    password: 'app-secret',
    cdcUsername: 'cdc',
    cdcPassword: 'cdc-secret',
  },
  'shop-auth': { jwtSecret: 'j'.repeat(32), webhookSecret: 'w'.repeat(16) },
  'shop-redis': { url: 'redis://:redis-secret@redis.cache.svc:6379/1' },
  'shop-redis-consumer': { url: 'rediss://consumer:writer-secret@redis.cache.svc:6380/1' },
  'shop-redis-api': { url: 'rediss://api:reader-secret@redis.cache.svc:6380/1' },
  'shop-sentinel': { username: 'app', password: 'sentinel-secret' },
};

const schemas = { producer: producerEnvSchema, consumer: consumerEnvSchema, api: apiEnvSchema } as const;

/** The keys of a service's env schema: its zod object's shape, under any refinements and transforms. */
function schemaKeys(schema: unknown): string[] {
  let s = schema as { shape?: Record<string, unknown>; in?: unknown };
  while (s.shape === undefined) {
    if (s.in === undefined) throw new Error('env schema is not a zod object');
    s = s.in as typeof s;
  }
  return Object.keys(s.shape);
}

/** Names a container gets: its env entries and the keys of the ConfigMaps it takes whole. */
function envNames(c: V1Container, configMaps: Map<string, Record<string, string>>): string[] {
  const fromConfigMaps = (c.envFrom ?? []).flatMap((f) =>
    Object.keys(configMaps.get(f.configMapRef?.name ?? '') ?? {}).map((k) => `${f.prefix ?? ''}${k}`),
  );
  return [...fromConfigMaps, ...(c.env ?? []).map((e) => e.name)];
}

function render(input: PipelineSpecInput, secretData = secrets) {
  const spec = pipelineSpec.parse(input);
  const children = desiredChildren(ref, spec);
  const configMaps = configMapsOf(children);
  const container = (component: Component) => containerOf(children, `shop-${component}`);
  const envOf = (component: Component) => kubeletEnv(container(component), configMaps, secretData);
  return { spec, children, configMaps, container, envOf };
}

const components: Component[] = ['producer', 'consumer', 'api'];

describe('pod environment against the services’ env schemas', () => {
  it.each(components)('%s: every variable set is one the service reads', (component) => {
    const { container, configMaps } = render(base);
    const c = container(component);
    const keys = new Set(schemaKeys(schemas[component]));
    // Secret parts that the kubelet composes into a URL are the only other variables allowed.
    const composedFrom = new Set(
      (c.env ?? []).flatMap((e) => [...(e.value ?? '').matchAll(VAR_REFERENCE)].map((m) => m[1] ?? '')),
    );
    const unread = envNames(c, configMaps).filter((n) => !keys.has(n) && !composedFrom.has(n));
    expect(unread).toEqual([]);
  });

  it.each(components)('%s: the rendered environment parses with the service’s schema', (component) => {
    const { envOf } = render(base);
    expect(() => parseEnv(schemas[component], envOf(component))).not.toThrow();
  });

  it('gives the producer its source, filters, topics, identity and start position', () => {
    const { spec, envOf } = render(base);
    const cfg = parseEnv(producerEnvSchema, envOf('producer'));
    expect(cfg).toMatchObject({
      mysqlUrl: 'mysql://cdc:cdc-secret@mariadb.db.svc:3307/payments',
      databases: ['payments'],
      tables: ['packages', 'purchases', 'payments'],
      brokers: ['kafka-0:9092', 'kafka-1:9092'],
      topicPrefix: 'pay.eu',
      partitions: 12,
      replicationFactor: 3,
      serverId: 4101,
      name: producerName(spec),
      startFrom: { kind: 'latest' },
      snapshotMode: 'when_needed',
      logLevel: 'debug',
    });
  });

  it.each([
    [{ kind: 'earliest' }, { kind: 'earliest' }],
    [
      { kind: 'timestamp', timestamp: '2026-11-25T10:00:00Z' },
      { kind: 'timestamp', atMs: Date.parse('2026-11-25T10:00:00Z') },
    ],
    [
      { kind: 'position', file: 'mysql-bin.000042', pos: 1234 },
      { kind: 'position', file: 'mysql-bin.000042', pos: 1234 },
    ],
    [
      { kind: 'gtid', gtid: '0-1-42,1-2-7' },
      { kind: 'gtid', gtidSet: '0-1-42,1-2-7' },
    ],
  ] as const)('renders startFrom %o as the producer’s START_FROM', (startFrom, expected) => {
    const { envOf } = render({ ...base, producer: { startFrom } });
    const cfg = parseEnv(producerEnvSchema, envOf('producer'));
    expect(cfg.startFrom).toEqual(expected);
  });

  it('gives the consumer the group, source database, app-user MySQL URL and Redis settings', () => {
    const { spec, envOf } = render(base);
    const cfg = parseEnv(consumerEnvSchema, envOf('consumer'));
    expect(cfg).toMatchObject({
      group: consumerGroup(spec),
      sourceDatabase: 'payments',
      mysqlUrl: 'mysql://app:app-secret@mariadb.db.svc:3307/payments',
      redisUrl: 'redis://redis.cache.svc:6379/0',
      redisKeyPrefix: 'pay-eu',
      topicPrefix: 'pay.eu',
      kafkaBrokers: ['kafka-0:9092', 'kafka-1:9092'],
      topicPartitions: 12,
      topicReplicationFactor: 3,
    });
  });

  it('points the autoscaler at the group and topics the consumer pods use', () => {
    const { spec, envOf } = render(base);
    const cfg = parseEnv(consumerEnvSchema, envOf('consumer'));
    const read = CACHED_TABLES.map((t) => topicName(cfg.topicPrefix, cfg.sourceDatabase, t));
    expect(consumerGroupOf(spec)).toEqual({ groupId: cfg.group, topics: read });
  });

  it('gives the api its MySQL URL, the consumer’s Redis keys, the JWT and webhook secrets', () => {
    const { envOf } = render(base);
    const api = parseEnv(apiEnvSchema, envOf('api'));
    const consumer = parseEnv(consumerEnvSchema, envOf('consumer'));
    expect(api).toMatchObject({
      mysqlUrl: 'mysql://app:app-secret@mariadb.db.svc:3307/payments',
      redisUrl: consumer.redisUrl,
      redisKeyPrefix: consumer.redisKeyPrefix,
      authJwtSecret: 'j'.repeat(32),
      webhookSecret: 'w'.repeat(16),
      logLevel: 'debug',
    });
  });

  it('gives a production api the consistency-token key and refuses the simulation unless the pipeline allows it', () => {
    const production = (spec: PipelineSpecInput) => ({
      ...render(spec).envOf('api'),
      NODE_ENV: 'production',
    });
    const withKey = {
      ...secrets,
      'shop-auth': { ...secrets['shop-auth'], consistencyTokenSecret: 'c'.repeat(32) },
    };
    const env = (spec: PipelineSpecInput) => ({
      ...render(spec, withKey).envOf('api'),
      NODE_ENV: 'production',
    });
    expect(() => parseEnv(apiEnvSchema, env(base))).toThrow(/ALLOW_SIMULATED_PROVIDER=true/);
    const allowed = { ...base, api: { ...base.api, allowSimulatedProvider: true } };
    expect(parseEnv(apiEnvSchema, env(allowed))).toMatchObject({
      paymentProvider: 'simulated',
      allowSimulatedProvider: true,
      consistencyTokenSecret: 'c'.repeat(32),
    });
    expect(() => parseEnv(apiEnvSchema, production(allowed))).toThrow(/CONSISTENCY_TOKEN_SECRET/);
  });

  it('runs the Stripe adapter in production with its key from the named Secret', () => {
    const stripe = {
      ...base,
      api: {
        ...base.api,
        paymentProvider: 'stripe' as const,
        stripe: { secret: 'shop-stripe', apiVersion: '2025-01-27.acacia' },
      },
    };
    const { envOf } = render(stripe, {
      ...secrets,
      'shop-auth': { ...secrets['shop-auth'], consistencyTokenSecret: 'c'.repeat(32) },
      'shop-stripe': { secretKey: 'sk_live_abc123' },
    });
    expect(parseEnv(apiEnvSchema, { ...envOf('api'), NODE_ENV: 'production' })).toMatchObject({
      paymentProvider: 'stripe',
      stripeSecretKey: 'sk_live_abc123',
      stripeApiVersion: '2025-01-27.acacia',
    });
    expect(() => pipelineSpec.parse({ ...base, api: { ...base.api, paymentProvider: 'stripe' } })).toThrow(
      /api.stripe is required when api.paymentProvider is stripe/,
    );
  });

  it("gives the producer and the consumer each its own Kafka user, and the brokers' CA", () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const secure = {
      ...base,
      kafka: {
        ...base.kafka,
        security: {
          protocol: 'SASL_SSL' as const,
          producerSecret: 'kafka-producer',
          consumerSecret: 'kafka-consumer',
          caSecret: 'kafka-ca',
        },
      },
    };
    const { envOf } = render(secure, {
      ...secrets,
      'kafka-producer': { username: 'pipeline-producer', password: 'p-secret' },
      'kafka-consumer': { username: 'pipeline-consumer', password: 'c-secret' },
      'kafka-ca': { 'ca.crt': ca },
    });
    const producer = parseEnv(producerEnvSchema, envOf('producer'));
    expect(producer.security).toEqual({
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'pipeline-producer', password: 'p-secret' },
      tls: { ca },
    });
    expect(parseEnv(consumerEnvSchema, envOf('consumer'))).toMatchObject({
      kafkaSaslUsername: 'pipeline-consumer',
      kafkaSaslPassword: 'c-secret',
      kafkaTlsCaPem: ca,
    });
    expect(() =>
      pipelineSpec.parse({ ...base, kafka: { ...base.kafka, security: { protocol: 'SASL_SSL' } } }),
    ).toThrow(/producerSecret and consumerSecret are required/);
  });

  it('puts mysql.tls on every MySQL URL and mounts its CA in the pods', () => {
    const tls = { ...base, mysql: { ...base.mysql, tls: { caSecret: 'mysql-ca' } } };
    const { envOf } = render(tls, secrets);
    expect(envOf('api').MYSQL_URL).toMatch(
      /\/payments\?ssl-mode=VERIFY_IDENTITY&ssl-ca=\/etc\/payment-pipeline\/mysql-tls\/ca.crt$/,
    );
    expect(envOf('producer').MYSQL_CDC_URL).toMatch(/\?ssl-mode=VERIFY_IDENTITY&ssl-ca=/);
    const pod = (
      desiredChildren(ref, pipelineSpec.parse(tls)).find(
        (c) => c.kind === 'Deployment' && c.metadata?.name?.endsWith('consumer'),
      ) as V1Deployment
    ).spec?.template.spec;
    expect(pod?.volumes).toEqual([
      { name: 'mysql-tls', secret: { secretName: 'mysql-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    ]);
    expect(pod?.containers[0]?.volumeMounts).toEqual([
      { name: 'mysql-tls', mountPath: '/etc/payment-pipeline/mysql-tls', readOnly: true },
    ]);
  });

  it('starts the api without a webhook secret when the auth Secret has none', () => {
    const { envOf } = render(base, { ...secrets, 'shop-auth': { jwtSecret: 'j'.repeat(32) } });
    const api = parseEnv(apiEnvSchema, envOf('api'));
    expect(api.webhookSecret).toBeUndefined();
  });

  it('configures JWKS verification with issuer and audience, and no HS256 secret', () => {
    const jwksUrl = 'https://idp.example.com/.well-known/jwks.json';
    const input = {
      ...base,
      api: {
        authSecret: 'shop-auth',
        auth: { jwksUrl, issuer: 'https://idp.example.com/', audience: 'payments' },
      },
    };
    // With JWKS there is no HS256 secret to derive the consistency-token key from: the Secret's key.
    const withKey = {
      ...secrets,
      'shop-auth': { ...secrets['shop-auth'], consistencyTokenSecret: 'c'.repeat(32) },
    };
    const { envOf, container, configMaps } = render(input, withKey);
    const api = parseEnv(apiEnvSchema, envOf('api'));
    expect(api).toMatchObject({
      authJwksUrl: jwksUrl,
      authJwtIssuer: 'https://idp.example.com/',
      authJwtAudience: 'payments',
      webhookSecret: 'w'.repeat(16),
    });
    expect(api.authJwtSecret).toBeUndefined();
    // Non-secret settings come from the ConfigMap; the other components are not given them.
    expect(configMaps.get('shop-config')).toMatchObject({ AUTH_JWKS_URL: jwksUrl });
    for (const component of ['producer', 'consumer'] as const) {
      expect(envNames(container(component), configMaps).filter((n) => n.startsWith('AUTH_'))).toEqual([]);
    }
  });

  it('checks issuer and audience with the HS256 secret too', () => {
    const { envOf } = render({
      ...base,
      api: { authSecret: 'shop-auth', auth: { issuer: 'shop', audience: 'api' } },
    });
    const api = parseEnv(apiEnvSchema, envOf('api'));
    expect(api).toMatchObject({
      authJwtSecret: 'j'.repeat(32),
      authJwtIssuer: 'shop',
      authJwtAudience: 'api',
    });
    expect(api.authJwksUrl).toBeUndefined();
  });

  it('takes the Redis URL from redis.secretName for the consumer and the api', () => {
    const { envOf } = render({ ...base, redis: { secretName: 'shop-redis', keyPrefix: 'pay-eu' } });
    for (const component of ['consumer', 'api'] as const) {
      const cfg = parseEnv(schemas[component], envOf(component));
      expect(cfg.redisUrl).toBe('redis://:redis-secret@redis.cache.svc:6379/1');
    }
  });

  it('gives the consumer and the api a private Redis CA from redis.tls.caSecret, as a Secret reference', () => {
    const out = render({
      ...base,
      redis: { url: 'rediss://redis.cache.svc:6380/0', tls: { caSecret: 'redis-ca' } },
    });
    for (const component of ['consumer', 'api'] as const) {
      const env = out.container(component).env ?? [];
      expect(env.find((e) => e.name === 'REDIS_TLS_CA_PEM')?.valueFrom?.secretKeyRef).toEqual({
        name: 'redis-ca',
        key: 'ca.crt',
      });
    }
    expect((render(base).container('api').env ?? []).some((e) => e.name === 'REDIS_TLS_CA_PEM')).toBe(false);
  });

  it('gives the consumer and the api their own Redis users from redis.consumerSecretName / apiSecretName', () => {
    const both = render({
      ...base,
      redis: {
        secretName: 'shop-redis',
        consumerSecretName: 'shop-redis-consumer',
        apiSecretName: 'shop-redis-api',
        keyPrefix: 'pay-eu',
      },
    });
    expect(parseEnv(consumerEnvSchema, both.envOf('consumer')).redisUrl).toBe(
      'rediss://consumer:writer-secret@redis.cache.svc:6380/1',
    );
    expect(parseEnv(apiEnvSchema, both.envOf('api')).redisUrl).toBe(
      'rediss://api:reader-secret@redis.cache.svc:6380/1',
    );
    // A secret reference, never the URL itself in the pod spec or a ConfigMap.
    expect(JSON.stringify(both.container('api'))).not.toContain('reader-secret');
    expect(JSON.stringify([...both.configMaps.values()])).not.toContain('secret@');
    // Only one of them: the other keeps the shared url; same key prefix for both.
    const one = render({ ...base, redis: { ...base.redis, apiSecretName: 'shop-redis-api' } });
    expect(parseEnv(consumerEnvSchema, one.envOf('consumer'))).toMatchObject({
      redisUrl: 'redis://redis.cache.svc:6379/0',
      redisKeyPrefix: 'pay-eu',
    });
    expect(parseEnv(apiEnvSchema, one.envOf('api'))).toMatchObject({
      redisUrl: 'rediss://api:reader-secret@redis.cache.svc:6380/1',
      redisKeyPrefix: 'pay-eu',
    });
  });

  it('passes redis.mode sentinel on as REDIS_SENTINEL_MASTER; the services read it with their own schemas', () => {
    const sentinels = 'redis://sentinel-0.cache.svc:26379,sentinel-1.cache.svc:26379/0';
    const { envOf, container, configMaps } = render({
      ...base,
      redis: { mode: 'sentinel', url: sentinels, sentinelMaster: 'payments', keyPrefix: 'pay-eu' },
    });
    for (const component of ['consumer', 'api'] as const) {
      const cfg = parseEnv(schemas[component], envOf(component));
      expect(cfg).toMatchObject({ redisUrl: sentinels, redisSentinelMaster: 'payments' });
      expect(redisOptions(cfg)).toMatchObject({
        name: 'payments',
        sentinels: [
          { host: 'sentinel-0.cache.svc', port: 26379 },
          { host: 'sentinel-1.cache.svc', port: 26379 },
        ],
      });
    }
    // The producer does not use Redis; standalone pods get no master name.
    expect(envNames(container('producer'), configMaps)).not.toContain('REDIS_SENTINEL_MASTER');
    const standalone = render(base);
    for (const component of components) {
      expect(envNames(standalone.container(component), standalone.configMaps)).not.toContain(
        'REDIS_SENTINEL_MASTER',
      );
    }
  });

  it('passes redis.sentinelTls and redis.sentinelSecretName on for the Sentinels themselves', () => {
    const sentinels = 'rediss://sentinel-0.cache.svc:26379,sentinel-1.cache.svc:26379/0';
    const { envOf, container } = render({
      ...base,
      redis: {
        mode: 'sentinel',
        url: sentinels,
        sentinelMaster: 'payments',
        sentinelTls: true,
        sentinelSecretName: 'shop-sentinel',
        keyPrefix: 'pay-eu',
      },
    });
    for (const component of ['consumer', 'api'] as const) {
      const cfg = parseEnv(schemas[component], envOf(component));
      expect(redisOptions(cfg)).toMatchObject({
        name: 'payments',
        enableTLSForSentinelMode: true,
        sentinelTLS: {},
        sentinelUsername: 'app',
        sentinelPassword: 'sentinel-secret',
      });
      expect(JSON.stringify(container(component))).not.toContain('sentinel-secret');
    }
    // Unset: none of the variables (the Sentinels in plain text without a user, as before).
    const plain = render({
      ...base,
      redis: { mode: 'sentinel', url: sentinels, sentinelMaster: 'payments', keyPrefix: 'pay-eu' },
    });
    expect(redisOptions(parseEnv(apiEnvSchema, plain.envOf('api')))).not.toHaveProperty('sentinelUsername');
  });

  it('passes redis.mode cluster on as REDIS_MODE=cluster with the seed nodes; the services read them', () => {
    const seeds = 'redis://redis-0.cache.svc:6379,redis-1.cache.svc:6379';
    const { envOf, container, configMaps } = render({
      ...base,
      redis: { mode: 'cluster', url: seeds, keyPrefix: 'pay-eu' },
    });
    for (const component of ['consumer', 'api'] as const) {
      const cfg = parseEnv(schemas[component], envOf(component));
      expect(cfg).toMatchObject({ redisUrl: seeds, redisMode: 'cluster' });
      expect(clusterNodes(cfg)).toEqual([
        { host: 'redis-0.cache.svc', port: 6379 },
        { host: 'redis-1.cache.svc', port: 6379 },
      ]);
    }
    expect(envNames(container('producer'), configMaps)).not.toContain('REDIS_MODE');
    expect(envNames(render(base).container('api'), render(base).configMaps)).not.toContain('REDIS_MODE');
  });

  it('serves metrics and probes on the ops port of every component, the api also on http, all interfaces', () => {
    const { container, envOf, children } = render(base);
    const listen = {
      producer: () => {
        const cfg = parseEnv(producerEnvSchema, envOf('producer'));
        return { ops: { port: cfg.metricsPort, host: cfg.metricsHost } };
      },
      consumer: () => {
        const cfg = parseEnv(consumerEnvSchema, envOf('consumer'));
        return { ops: { port: cfg.metricsPort, host: cfg.metricsHost } };
      },
      api: () => {
        const cfg = parseEnv(apiEnvSchema, envOf('api'));
        return {
          ops: { port: cfg.opsPort, host: cfg.opsHost },
          http: { port: cfg.port, host: cfg.host },
        };
      },
    };
    for (const component of components) {
      const c = container(component);
      const { ops, http } = listen[component]() as {
        ops: { port: number; host: string };
        http?: { port: number; host: string };
      };
      const byName = new Map(c.ports?.map((p) => [p.name, p.containerPort]));
      expect(byName.get('metrics')).toBe(ops.port);
      expect(byName.get('http')).toBe(http?.port);
      expect(c.ports?.length).toBe(http ? 2 : 1);
      // The kubelet probes the pod IP: a service bound to 127.0.0.1 would never become ready.
      expect(ops.host).toBe('0.0.0.0');
      if (http) expect(http.host).toBe('0.0.0.0');
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        expect(probe?.httpGet?.port).toBe('metrics');
      }
    }
    // Every pod is scraped on `metrics` through the headless Service; the api's Service is not a target.
    const services = children.filter((o) => o.kind === 'Service') as V1Service[];
    const metrics = services.find((svc) => svc.metadata?.name === 'shop-metrics');
    expect(metrics?.spec?.ports?.map((p) => p.targetPort)).toEqual(['metrics']);
    const api = services.find((svc) => svc.metadata?.name === 'shop-api');
    expect(api?.metadata?.labels?.['payments.example.com/metrics']).toBeUndefined();
  });

  it('rolls a component only when its own environment changes', () => {
    const hash = (input: PipelineSpecInput, component: Component) => {
      const d = render(input).children.find((o) => o.metadata?.name === `shop-${component}`) as V1Deployment;
      return d.spec?.template.metadata?.annotations?.['payments.example.com/config-hash'];
    };
    const moved = { ...base, producer: { startFrom: { kind: 'earliest' as const } } };
    expect(hash(moved, 'producer')).not.toBe(hash(base, 'producer'));
    expect(hash(moved, 'api')).toBe(hash(base, 'api'));
    expect(hash(moved, 'consumer')).toBe(hash(base, 'consumer'));
    const verbose = { ...base, logLevel: 'trace' as const };
    for (const component of components) expect(hash(verbose, component)).not.toBe(hash(base, component));
  });
});

describe('pod security', () => {
  it('runs every pod non-root under the runtime seccomp profile, read-only, with no capabilities', () => {
    const { children, container } = render(base);
    for (const component of components) {
      const d = children.find((o) => o.metadata?.name === `shop-${component}`) as V1Deployment;
      const pod = d.spec?.template.spec;
      expect(pod?.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod?.automountServiceAccountToken).toBe(false);
      expect(container(component).securityContext).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('lets traffic in to the pods only on their named ports, from the listed peers, when asked', () => {
    expect(render(base).children.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    const { children, container } = render({
      ...base,
      networkPolicy: {
        enabled: true,
        apiFrom: [{ namespaceLabels: { 'kubernetes.io/metadata.name': 'ingress' } }],
        metricsFrom: [{ namespaceLabels: { team: 'monitoring' }, podLabels: { app: 'prometheus' } }],
      },
    });
    const policy = children.find((o) => o.kind === 'NetworkPolicy') as KubernetesObject & { spec: unknown };
    expect(policy.metadata?.name).toBe('shop-pods');
    expect(policy.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'PaymentPipeline', uid: 'uid-1' });
    expect(policy.spec).toEqual({
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'payment-pipeline',
          'app.kubernetes.io/instance': 'shop',
          'app.kubernetes.io/managed-by': 'payment-pipeline-operator',
        },
      },
      policyTypes: ['Ingress'],
      ingress: [
        {
          ports: [{ port: 'http', protocol: 'TCP' }],
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } }],
        },
        {
          ports: [{ port: 'metrics', protocol: 'TCP' }],
          from: [
            {
              namespaceSelector: { matchLabels: { team: 'monitoring' } },
              podSelector: { matchLabels: { app: 'prometheus' } },
            },
          ],
        },
      ],
    });
    // The named ports are the ones the containers declare, and the selector matches every pod.
    for (const component of components) {
      expect(['http', 'metrics']).toContain(container(component).ports?.[0]?.name);
      const d = children.find((o) => o.metadata?.name === `shop-${component}`) as V1Deployment;
      expect(d.spec?.template.metadata?.labels).toMatchObject(
        (policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels,
      );
    }
    // Without peers: anyone may reach the ports, nothing else.
    const open = render({ ...base, networkPolicy: { enabled: true } }).children.find(
      (o) => o.kind === 'NetworkPolicy',
    ) as KubernetesObject & { spec: { ingress: unknown[] } };
    expect(open.spec.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }] },
      { ports: [{ port: 'metrics', protocol: 'TCP' }] },
    ]);
  });
});
