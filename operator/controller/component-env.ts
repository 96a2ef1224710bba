import type { z } from 'zod';
import type { apiEnvSchema } from '../../runtime/api/config.ts';
import type { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import type { producerEnvSchema } from '../../runtime/producer/config.ts';
import type { PipelineSpec } from '../api/v1alpha1/spec.ts';
import type { Component } from './labels.ts';
import { consumerGroup, producerName } from './naming.ts';

/**
 * The environment of each component's container, written against the service's own env schema:
 * a variable's name must be a key of that schema (a typo or a renamed variable fails the typecheck),
 * and operator/children.test.ts parses what the kubelet would build with the schema itself.
 */

/** Names a service reads: the keys of its zod env schema's input. */
type EnvName<S extends z.ZodType> = keyof z.input<S> & string;
export type ProducerEnvName = EnvName<typeof producerEnvSchema>;
export type ConsumerEnvName = EnvName<typeof consumerEnvSchema>;
export type ApiEnvName = EnvName<typeof apiEnvSchema>;

/** Secret values that only exist to be composed into a URL by the kubelet; no service reads them. */
type CredentialPart = 'MYSQL_USER' | 'MYSQL_PASSWORD' | 'MYSQL_CDC_USER' | 'MYSQL_CDC_PASSWORD';

export type SecretRef = { name: string; key: string; optional?: boolean };

/**
 * One variable, in the order the container gets them (the kubelet expands `$(VAR)` only for
 * variables defined earlier): a non-secret setting (served from the pipeline's ConfigMap), a key of
 * one of the user's Secrets, or a value the kubelet composes from earlier ones.
 */
export type EnvEntry<N extends string> =
  | { name: N; setting: string }
  | { name: N | CredentialPart; secret: SecretRef }
  | { name: N; composed: string };

export const API_PORT = 8080;
export const METRICS_PORT = 9464;
/** The kubelet probes and Prometheus scrapes the pod IP, so every server listens on all interfaces. */
const ALL_INTERFACES = '0.0.0.0';

/** spec.producer.startFrom as the producer's START_FROM (`kind[:value]`, runtime/producer/start-from.ts). */
export function startFromEnv(sf: PipelineSpec['producer']['startFrom']): string {
  const need = <T>(v: T | undefined, field: string): T => {
    if (v === undefined) throw new Error(`startFrom.${field} is required when kind is ${sf.kind}`);
    return v;
  };
  switch (sf.kind) {
    case 'earliest':
    case 'latest':
      return sf.kind;
    case 'timestamp':
      return `timestamp:${need(sf.timestamp, 'timestamp')}`;
    case 'position':
      return `position:${need(sf.file, 'file')}:${need(sf.pos, 'pos')}`;
    case 'gtid':
      return `gtid:${need(sf.gtid, 'gtid')}`;
  }
}

/**
 * A MySQL URL composed by the kubelet from the credentials Secret, so no secret value passes through
 * the operator or a ConfigMap (passwords must therefore be URL-safe; see docs/operator.md).
 */
function mysqlUrlEntries<N extends string>(
  spec: PipelineSpec,
  name: N,
  user: CredentialPart,
  password: CredentialPart,
  keys: { user: string; password: string },
): EnvEntry<N>[] {
  const secret = spec.mysql.credentialsSecret;
  const { host, port, database } = spec.mysql;
  return [
    { name: user, secret: { name: secret, key: keys.user } },
    { name: password, secret: { name: secret, key: keys.password } },
    { name, composed: `mysql://$(${user}):$(${password})@${host}:${port}/${database}${mysqlTlsQuery(spec)}` },
  ];
}

/** Where the pods find mysql.tls.caSecret's ca.crt (operator/children.ts mounts it). */
export const MYSQL_CA_DIR = '/etc/payment-pipeline/mysql-tls';

/** The URL parameters of mysql.tls (runtime/core/db/tls.ts); empty without TLS. */
export function mysqlTlsQuery(spec: PipelineSpec): string {
  const tls = spec.mysql.tls;
  if (!tls) return '';
  return `?ssl-mode=${tls.mode}${tls.caSecret ? `&ssl-ca=${MYSQL_CA_DIR}/ca.crt` : ''}`;
}

/** The application user's MYSQL_URL (consumer rebuilds, api). */
const appMysqlUrl = (spec: PipelineSpec) =>
  mysqlUrlEntries(spec, 'MYSQL_URL', 'MYSQL_USER', 'MYSQL_PASSWORD', {
    user: 'username',
    password: 'password',
  });

type RedisEnvName =
  | 'REDIS_URL'
  | 'REDIS_SENTINEL_MASTER'
  | 'REDIS_SENTINEL_TLS'
  | 'REDIS_SENTINEL_USERNAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_MODE'
  | 'REDIS_TLS_CA_PEM'
  | 'REDIS_KEY_PREFIX';

/**
 * REDIS_SENTINEL_MASTER for redis.mode sentinel (REDIS_URL then names the Sentinels), REDIS_MODE=cluster
 * for mode cluster (REDIS_URL then names seed nodes); none for standalone.
 */
function sentinelEntries(redis: PipelineSpec['redis']): EnvEntry<RedisEnvName>[] {
  switch (redis.mode) {
    case 'standalone':
      return [];
    case 'sentinel':
      if (redis.sentinelMaster === undefined)
        throw new Error('redis.sentinelMaster is required when mode is sentinel');
      return [
        { name: 'REDIS_SENTINEL_MASTER', setting: redis.sentinelMaster },
        // How to reach the Sentinels themselves (the URL's TLS and user are the master's).
        ...(redis.sentinelTls ? [{ name: 'REDIS_SENTINEL_TLS' as const, setting: 'true' }] : []),
        ...(redis.sentinelSecretName
          ? [
              {
                name: 'REDIS_SENTINEL_USERNAME' as const,
                secret: { name: redis.sentinelSecretName, key: 'username' },
              },
              {
                name: 'REDIS_SENTINEL_PASSWORD' as const,
                secret: { name: redis.sentinelSecretName, key: 'password' },
              },
            ]
          : []),
      ];
    case 'cluster':
      return [{ name: 'REDIS_MODE', setting: 'cluster' }];
  }
}

/** The component's own Secret (its ACL user) when it has one, else the shared url / secretName. */
function redisEntries(spec: PipelineSpec, component: 'consumer' | 'api'): EnvEntry<RedisEnvName>[] {
  const own = component === 'consumer' ? spec.redis.consumerSecretName : spec.redis.apiSecretName;
  const secretName = own ?? spec.redis.secretName;
  const url: EnvEntry<'REDIS_URL'> = secretName
    ? { name: 'REDIS_URL', secret: { name: secretName, key: 'url' } }
    : { name: 'REDIS_URL', setting: spec.redis.url ?? '' };
  // The same prefix for both the consumer and the api: they must read and write the same keys.
  const ca: EnvEntry<'REDIS_TLS_CA_PEM'>[] = spec.redis.tls
    ? [{ name: 'REDIS_TLS_CA_PEM', secret: { name: spec.redis.tls.caSecret, key: 'ca.crt' } }]
    : [];
  return [
    url,
    ...sentinelEntries(spec.redis),
    ...ca,
    { name: 'REDIS_KEY_PREFIX', setting: spec.redis.keyPrefix },
  ];
}

/** The component's own Kafka user (its Secret) and the brokers' CA; nothing for a plaintext cluster. */
function kafkaSecurityEntries(
  spec: PipelineSpec,
  component: 'producer' | 'consumer',
): EnvEntry<ProducerEnvName & ConsumerEnvName>[] {
  const s = spec.kafka.security;
  if (!s || s.protocol === 'PLAINTEXT') return [];
  const entries: EnvEntry<ProducerEnvName & ConsumerEnvName>[] = [
    { name: 'KAFKA_SECURITY_PROTOCOL', setting: s.protocol },
  ];
  const secret = component === 'producer' ? s.producerSecret : s.consumerSecret;
  if (s.protocol.startsWith('SASL_') && secret) {
    entries.push(
      { name: 'KAFKA_SASL_MECHANISM', setting: s.saslMechanism },
      { name: 'KAFKA_SASL_USERNAME', secret: { name: secret, key: 'username' } },
      { name: 'KAFKA_SASL_PASSWORD', secret: { name: secret, key: 'password' } },
    );
  }
  if (s.caSecret) entries.push({ name: 'KAFKA_TLS_CA_PEM', secret: { name: s.caSecret, key: 'ca.crt' } });
  return entries;
}

export function producerEnv(spec: PipelineSpec): EnvEntry<ProducerEnvName>[] {
  return [
    { name: 'LOG_LEVEL', setting: spec.logLevel },
    ...mysqlUrlEntries(spec, 'MYSQL_CDC_URL', 'MYSQL_CDC_USER', 'MYSQL_CDC_PASSWORD', {
      user: 'cdcUsername',
      password: 'cdcPassword',
    }),
    { name: 'PRODUCER_DATABASES', setting: spec.mysql.database },
    { name: 'PRODUCER_TABLES', setting: spec.mysql.tables.join(',') },
    { name: 'KAFKA_BROKERS', setting: spec.kafka.bootstrap.join(',') },
    ...kafkaSecurityEntries(spec, 'producer'),
    { name: 'TOPIC_PREFIX', setting: spec.kafka.topicPrefix },
    { name: 'TOPIC_PARTITIONS', setting: String(spec.kafka.partitions) },
    { name: 'TOPIC_REPLICATION_FACTOR', setting: String(spec.kafka.replicationFactor) },
    { name: 'PRODUCER_SERVER_ID', setting: String(spec.mysql.serverId) },
    { name: 'PRODUCER_NAME', setting: producerName(spec) },
    { name: 'START_FROM', setting: startFromEnv(spec.producer.startFrom) },
    { name: 'SNAPSHOT_MODE', setting: spec.producer.snapshot },
    { name: 'PRODUCER_METRICS_PORT', setting: String(METRICS_PORT) },
    { name: 'PRODUCER_METRICS_HOST', setting: ALL_INTERFACES },
  ];
}

export function consumerEnv(spec: PipelineSpec): EnvEntry<ConsumerEnvName>[] {
  return [
    { name: 'LOG_LEVEL', setting: spec.logLevel },
    ...appMysqlUrl(spec),
    { name: 'SOURCE_DATABASE', setting: spec.mysql.database },
    ...redisEntries(spec, 'consumer'),
    { name: 'KAFKA_BROKERS', setting: spec.kafka.bootstrap.join(',') },
    ...kafkaSecurityEntries(spec, 'consumer'),
    { name: 'TOPIC_PREFIX', setting: spec.kafka.topicPrefix },
    { name: 'CONSUMER_GROUP', setting: consumerGroup(spec) },
    { name: 'TOPIC_PARTITIONS', setting: String(spec.kafka.partitions) },
    { name: 'TOPIC_REPLICATION_FACTOR', setting: String(spec.kafka.replicationFactor) },
    { name: 'CONSUMER_METRICS_PORT', setting: String(METRICS_PORT) },
    { name: 'CONSUMER_METRICS_HOST', setting: ALL_INTERFACES },
  ];
}

/**
 * Bearer-token verification: a JWKS URL (production) or the HS256 secret from authSecret, never both
 * (the api refuses that); issuer and audience, when given, are checked in either mode.
 */
function authEntries(api: PipelineSpec['api']): EnvEntry<ApiEnvName>[] {
  const { jwksUrl, issuer, audience } = api.auth ?? {};
  const secret = api.authSecret;
  const entries: EnvEntry<ApiEnvName>[] = [
    // The api takes one of the two: a JWKS (production) or the HS256 secret.
    jwksUrl !== undefined
      ? { name: 'AUTH_JWKS_URL', setting: jwksUrl }
      : { name: 'AUTH_JWT_SECRET', secret: { name: secret, key: 'jwtSecret' } },
  ];
  if (issuer !== undefined) entries.push({ name: 'AUTH_JWT_ISSUER', setting: issuer });
  if (audience !== undefined) entries.push({ name: 'AUTH_JWT_AUDIENCE', setting: audience });
  entries.push(
    // Optional key: without it the api answers webhook calls with an explicit "not configured".
    { name: 'WEBHOOK_SECRET', secret: { name: secret, key: 'webhookSecret', optional: true } },
    // Required by a production api: without the key it refuses to start and says so.
    {
      name: 'CONSISTENCY_TOKEN_SECRET',
      secret: { name: secret, key: 'consistencyTokenSecret', optional: true },
    },
  );
  return entries;
}

/** Stripe's key from the Secret the pipeline names (never inline), and its pinned API version. */
function stripeEntries(api: PipelineSpec['api']): EnvEntry<ApiEnvName>[] {
  if (api.paymentProvider !== 'stripe' || api.stripe === undefined) return [];
  const entries: EnvEntry<ApiEnvName>[] = [
    { name: 'STRIPE_SECRET_KEY', secret: { name: api.stripe.secret, key: 'secretKey' } },
  ];
  if (api.stripe.apiVersion !== undefined) {
    entries.push({ name: 'STRIPE_API_VERSION', setting: api.stripe.apiVersion });
  }
  return entries;
}

export function apiEnv(spec: PipelineSpec): EnvEntry<ApiEnvName>[] {
  return [
    { name: 'LOG_LEVEL', setting: spec.logLevel },
    ...appMysqlUrl(spec),
    ...redisEntries(spec, 'api'),
    ...authEntries(spec.api),
    // The image's NODE_ENV=production refuses the simulation unless the pipeline asks for it explicitly.
    { name: 'PAYMENT_PROVIDER', setting: spec.api.paymentProvider },
    { name: 'ALLOW_SIMULATED_PROVIDER', setting: String(spec.api.allowSimulatedProvider) },
    ...stripeEntries(spec.api),
    { name: 'API_PORT', setting: String(API_PORT) },
    { name: 'API_HOST', setting: ALL_INTERFACES },
    // /metrics and /readyz live on the ops port, named `metrics` like the producer's and consumer's.
    { name: 'API_OPS_PORT', setting: String(METRICS_PORT) },
    { name: 'API_OPS_HOST', setting: ALL_INTERFACES },
  ];
}

export function componentEnv(spec: PipelineSpec, component: Component): EnvEntry<string>[] {
  switch (component) {
    case 'producer':
      return producerEnv(spec);
    case 'consumer':
      return consumerEnv(spec);
    case 'api':
      return apiEnv(spec);
  }
}
