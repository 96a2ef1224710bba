import { z } from 'zod';
import {
  kafkaBrokers,
  port,
  redisKeyPrefix,
  redisSentinelMaster,
  sqlIdentifier,
  startFromKind,
  topicPrefix,
} from '../../../runtime/core/config/fields.ts';

/**
 * The PaymentPipeline resource (payments.example.com/v1alpha1): the single source of truth for its
 * shape. The operator validates with these schemas and crds/generate.ts turns them into the CRD's
 * openAPIV3Schema (z.toJSONSchema on the input side, so defaults and patterns reach the API server).
 * Cross-field rules live twice on purpose: as CEL (`x-kubernetes-validations`, enforced by the API
 * server at admission) and as zod refinements (enforced by the operator, e.g. for objects created
 * before a rule existed). Each pair carries the same message.
 */

type CelRule = { rule: string; message: string; fieldPath?: string; reason?: string };
const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

/** DNS-1123 label: names of Secrets and other objects the spec refers to. */
const objectName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lowercase letters, digits and -)');

const int = (min: number, max: number) => z.int().min(min).max(max);

/**
 * A host name (RFC 1123 labels), an IPv4 address or a bracketed IPv6 address: nothing that could
 * change the meaning of the URL it is composed into (no user@, /, ?, # or spaces).
 */
const DNS_LABEL = '[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?';
export const HOST_PATTERN = new RegExp(`^(${DNS_LABEL}(\\.${DNS_LABEL})*|\\[[0-9A-Fa-f:.]{2,45}\\])$`);
const hostName = z
  .string()
  .min(1)
  .max(253)
  .regex(HOST_PATTERN, 'must be a host name, an IPv4 address or a bracketed IPv6 address');

const mysqlSpec = z
  .object({
    host: hostName.describe(
      'MySQL/MariaDB host the services connect to (the operator may restrict it: ALLOWED_MYSQL_HOSTS)',
    ),
    port: port.default(3306),
    database: sqlIdentifier.describe('database whose binlog is captured'),
    credentialsSecret: objectName.describe(
      'Secret with keys username, password (application user) and cdcUsername, cdcPassword (replication user)',
    ),
    tls: z
      .object({
        mode: z
          .enum(['VERIFY_IDENTITY', 'VERIFY_CA'])
          .default('VERIFY_IDENTITY')
          .describe(
            'VERIFY_IDENTITY: the certificate and the host name (verify-full); VERIFY_CA: the certificate',
          ),
        caSecret: objectName
          .optional()
          .describe(
            "Secret with key ca.crt: the CA of the server's certificate (unset: the image's trust store)",
          ),
      })
      .optional()
      .describe('TLS to MySQL for every connection (ssl-mode/ssl-ca on the URLs the pods get)'),
    serverId: int(1, 4294967295).describe('server_id the producer uses as a replica; unique per source'),
    tables: z.array(sqlIdentifier).min(1).max(256).describe('tables captured into Kafka'),
  })
  .meta(
    cel(
      {
        rule: 'self.serverId == oldSelf.serverId',
        message: 'mysql.serverId is immutable',
        fieldPath: '.serverId',
      },
      {
        rule: 'self.database == oldSelf.database',
        message: 'mysql.database is immutable',
        fieldPath: '.database',
      },
    ),
  );

const KAFKA_SASL_NEEDS_SECRETS =
  'kafka.security.producerSecret and consumerSecret are required with a SASL protocol';
const kafkaSecurity = z
  .object({
    protocol: z
      .enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'])
      .default('PLAINTEXT')
      .describe('KAFKA_SECURITY_PROTOCOL (managed services: SASL_SSL)'),
    saslMechanism: z.enum(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN']).default('SCRAM-SHA-512'),
    producerSecret: objectName
      .optional()
      .describe(
        "Secret with keys username, password: the producer's Kafka user (writes the change and checkpoint topics)",
      ),
    consumerSecret: objectName
      .optional()
      .describe(
        "Secret with keys username, password: the consumer's Kafka user (reads the topics, commits its group)",
      ),
    caSecret: objectName
      .optional()
      .describe(
        "Secret with key ca.crt: the CA of the brokers' certificates (unset: the system trust store)",
      ),
  })
  .superRefine((s, ctx) => {
    if (
      s.protocol.startsWith('SASL_') &&
      (s.producerSecret === undefined || s.consumerSecret === undefined)
    ) {
      ctx.addIssue({ code: 'custom', message: KAFKA_SASL_NEEDS_SECRETS });
    }
  })
  .meta(
    cel({
      rule: "!has(self.protocol) || !self.protocol.startsWith('SASL_') || (has(self.producerSecret) && has(self.consumerSecret))",
      message: KAFKA_SASL_NEEDS_SECRETS,
    }),
  );

const kafkaSpec = z
  .object({
    bootstrap: kafkaBrokers.describe('bootstrap brokers, host:port[,host:port...]'),
    topicPrefix: topicPrefix.describe('topics are <topicPrefix>.<database>.<table>'),
    partitions: int(1, 1000).default(6),
    replicationFactor: int(1, 7).default(1),
    security: kafkaSecurity
      .optional()
      .describe('TLS and SASL to the brokers, one user per component (secret references only)'),
  })
  .meta(
    cel({
      rule: 'self.topicPrefix == oldSelf.topicPrefix',
      message: 'kafka.topicPrefix is immutable (the consumers would lose their topics)',
      fieldPath: '.topicPrefix',
    }),
  );

const redisUrlPattern = /^rediss?:\/\/\S+$/;
const SEVERAL_HOSTS_NEED_SENTINEL =
  'redis.url names several hosts: they are Sentinels (mode sentinel) or cluster seed nodes (mode cluster)';
const CLUSTER_NO_DB = 'redis.url of mode cluster names no database (a Redis Cluster has only db 0)';
const CLUSTER_NO_SENTINEL = 'redis.sentinelMaster is for mode sentinel only';
const REDIS_TLS_NEEDS_REDISS = 'redis.tls needs a rediss:// url (TLS is what the CA is for)';
const SENTINEL_ONLY = 'redis.sentinelTls and redis.sentinelSecretName are for mode sentinel only';
const redisSpec = z
  .object({
    mode: z
      .enum(['standalone', 'sentinel', 'cluster'])
      .default('standalone')
      .describe(
        'standalone: url names the server; sentinel: url names the Sentinels (host:port,...); cluster: url names seed nodes of a Redis Cluster (host:port,...)',
      ),
    url: z
      .string()
      .max(2048)
      .regex(redisUrlPattern, 'must be a redis:// or rediss:// URL')
      .optional()
      .describe(
        'redis[s]://[[user]:password@]host[:port][,host:port...][/db] without secrets; use secretName when it carries a password',
      ),
    secretName: objectName.optional().describe('Secret whose key "url" holds the connection URL'),
    consumerSecretName: objectName
      .optional()
      .describe(
        'Secret whose key "url" holds the consumer\'s own connection URL (its writer ACL user); overrides url/secretName for the consumer',
      ),
    apiSecretName: objectName
      .optional()
      .describe(
        'Secret whose key "url" holds the api\'s own connection URL (its read-mostly ACL user); overrides url/secretName for the api',
      ),
    sentinelMaster: redisSentinelMaster
      .optional()
      .describe('mode sentinel: the master group the Sentinels monitor'),
    sentinelTls: z
      .boolean()
      .optional()
      .describe(
        "mode sentinel: the Sentinels themselves listen on TLS (the URL's rediss:// is the master's)",
      ),
    sentinelSecretName: objectName
      .optional()
      .describe(
        'mode sentinel: Secret with keys "username" and "password" of the ACL user the Sentinels require',
      ),
    tls: z
      .object({
        caSecret: objectName.describe(
          "Secret with key ca.crt: the CA of the rediss:// servers' certificates (unset: the system trust store)",
        ),
      })
      .optional()
      .describe('TLS to Redis with a private CA (the URL must be rediss://)'),
    keyPrefix: redisKeyPrefix.default('pay'),
  })
  .superRefine((r, ctx) => {
    if ((r.url === undefined) === (r.secretName === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of redis.url and redis.secretName must be set' });
    }
    if (r.mode === 'sentinel' && r.sentinelMaster === undefined) {
      ctx.addIssue({ code: 'custom', message: 'redis.sentinelMaster is required when mode is sentinel' });
    }
    if (r.tls && r.url !== undefined && !r.url.startsWith('rediss://')) {
      ctx.addIssue({ code: 'custom', message: REDIS_TLS_NEEDS_REDISS });
    }
    if (r.mode === 'cluster' && r.url !== undefined && /\/[1-9]\d*$/.test(r.url)) {
      ctx.addIssue({ code: 'custom', message: CLUSTER_NO_DB });
    }
    if (r.mode !== 'sentinel' && (r.sentinelTls !== undefined || r.sentinelSecretName !== undefined)) {
      ctx.addIssue({ code: 'custom', message: SENTINEL_ONLY });
    }
    if (r.mode === 'cluster' && r.sentinelMaster !== undefined) {
      ctx.addIssue({ code: 'custom', message: CLUSTER_NO_SENTINEL });
    }
    if (r.mode === 'standalone' && r.url?.includes(',')) {
      ctx.addIssue({ code: 'custom', message: SEVERAL_HOSTS_NEED_SENTINEL });
    }
  })
  .meta(
    cel(
      {
        rule: 'has(self.url) != has(self.secretName)',
        message: 'exactly one of redis.url and redis.secretName must be set',
      },
      {
        rule: "self.mode != 'sentinel' || has(self.sentinelMaster)",
        message: 'redis.sentinelMaster is required when mode is sentinel',
      },
      {
        rule: "self.mode != 'cluster' || !has(self.url) || !self.url.matches('/[1-9][0-9]*$')",
        message: CLUSTER_NO_DB,
        fieldPath: '.url',
      },
      {
        rule: "self.mode != 'cluster' || !has(self.sentinelMaster)",
        message: CLUSTER_NO_SENTINEL,
        fieldPath: '.sentinelMaster',
      },
      {
        rule: "self.mode == 'sentinel' || (!has(self.sentinelTls) && !has(self.sentinelSecretName))",
        message: SENTINEL_ONLY,
      },
      {
        rule: "self.mode != 'standalone' || !has(self.url) || !self.url.contains(',')",
        message: SEVERAL_HOSTS_NEED_SENTINEL,
        fieldPath: '.url',
      },
    ),
  );

const startFrom = z
  .object({
    kind: startFromKind.default('latest'),
    timestamp: z.iso.datetime().optional().describe('kind=timestamp: RFC 3339 instant'),
    file: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,255}$/)
      .optional()
      .describe('kind=position: binlog file name'),
    pos: int(4, 2 ** 53 - 1)
      .optional()
      .describe('kind=position: byte offset in the file'),
    gtid: z
      .string()
      .min(1)
      .max(4096) // RE2 (the API server's regex engine) allows repeat counts up to 1000 only
      .regex(/^[0-9A-Za-z:,-]+$/)
      .optional()
      .describe('kind=gtid: GTID (set) to resume after'),
  })
  .superRefine((s, ctx) => {
    if (s.kind === 'timestamp' && s.timestamp === undefined) {
      ctx.addIssue({ code: 'custom', message: 'startFrom.timestamp is required when kind is timestamp' });
    }
    if (s.kind === 'position' && (s.file === undefined || s.pos === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'startFrom.file and startFrom.pos are required when kind is position',
      });
    }
    if (s.kind === 'gtid' && s.gtid === undefined) {
      ctx.addIssue({ code: 'custom', message: 'startFrom.gtid is required when kind is gtid' });
    }
  })
  .meta(
    cel(
      {
        rule: "self.kind != 'timestamp' || has(self.timestamp)",
        message: 'startFrom.timestamp is required when kind is timestamp',
      },
      {
        rule: "self.kind != 'position' || (has(self.file) && has(self.pos))",
        message: 'startFrom.file and startFrom.pos are required when kind is position',
      },
      {
        rule: "self.kind != 'gtid' || has(self.gtid)",
        message: 'startFrom.gtid is required when kind is gtid',
      },
    ),
  );

const resources = z
  .object({
    requests: z.record(z.string(), z.string().max(64)).optional(),
    limits: z.record(z.string(), z.string().max(64)).optional(),
  })
  .optional();

const producerSpec = z.object({
  startFrom: startFrom.default({ kind: 'latest' }),
  snapshot: z.enum(['initial', 'never', 'when_needed']).default('initial'),
  resources,
});

const consumerSpec = z
  .object({
    minReplicas: int(1, 1000).default(1),
    maxReplicas: int(1, 1000).default(4),
    lagThreshold: int(1, 1_000_000_000).default(1000).describe('target lag per consumer replica'),
    scaleDownStabilizationSeconds: int(0, 86400).default(300),
    resources,
  })
  .superRefine((c, ctx) => {
    if (c.minReplicas > c.maxReplicas) {
      ctx.addIssue({ code: 'custom', message: 'consumer.minReplicas must not exceed consumer.maxReplicas' });
    }
  })
  .meta(
    cel({
      rule: 'self.minReplicas <= self.maxReplicas',
      message: 'consumer.minReplicas must not exceed consumer.maxReplicas',
    }),
  );

const apiAuth = z.object({
  jwksUrl: z
    .string()
    .max(2048)
    .regex(/^https:\/\/[^\s/?#@]+(\/\S*)?$/, 'must be an https:// URL')
    .optional()
    .describe(
      "the identity provider's JSON Web Key Set (RS256, production); set: the api takes no HS256 secret",
    ),
  issuer: z.string().min(1).max(2048).optional().describe('tokens must carry this iss'),
  audience: z.string().min(1).max(2048).optional().describe('tokens must carry this aud'),
});

const STRIPE_NEEDS_SETTINGS = 'api.stripe is required when api.paymentProvider is stripe';
const apiSpec = z
  .object({
    replicas: int(1, 1000).default(2),
    authSecret: objectName.describe(
      'Secret with keys "consistencyTokenSecret" (the consistency-token key), "jwtSecret" (the HS256 signing secret, unused when auth.jwksUrl is set) and optional "webhookSecret"',
    ),
    auth: apiAuth
      .optional()
      .describe('how the api verifies bearer tokens (AUTH_JWKS_URL, AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE)'),
    allowSimulatedProvider: z
      .boolean()
      .default(false)
      .describe(
        'run the api with the simulated payment provider (no money moves); the image runs NODE_ENV=production, which refuses it otherwise',
      ),
    paymentProvider: z
      .enum(['simulated', 'stripe'])
      .default('simulated')
      .describe('the payment provider adapter (PAYMENT_PROVIDER): stripe needs api.stripe'),
    stripe: z
      .object({
        secret: objectName.describe(
          'Secret with key "secretKey" (the Stripe secret or restricted key); the webhook signing secret (whsec_…) goes in authSecret\'s "webhookSecret"',
        ),
        apiVersion: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/)
          .optional()
          .describe("pins Stripe's API version (STRIPE_API_VERSION)"),
      })
      .optional()
      .describe('Stripe settings (PaymentIntents), used when paymentProvider is stripe'),
    service: z
      .object({
        type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP'),
        port: port.default(80),
      })
      .default({ type: 'ClusterIP', port: 80 }),
    resources,
  })
  .superRefine((a, ctx) => {
    if (a.paymentProvider === 'stripe' && a.stripe === undefined) {
      ctx.addIssue({ code: 'custom', message: STRIPE_NEEDS_SETTINGS });
    }
  })
  .meta(
    cel({
      rule: "!has(self.paymentProvider) || self.paymentProvider != 'stripe' || has(self.stripe)",
      message: STRIPE_NEEDS_SETTINGS,
    }),
  );

const monitoringSpec = z.object({
  serviceMonitor: z.boolean().default(false).describe('create a prometheus-operator ServiceMonitor'),
  labels: z.record(z.string(), z.string().max(63)).optional().describe('extra labels on the ServiceMonitor'),
});

const labels = z.record(z.string().max(317), z.string().max(63));
const NETWORK_PEER_NEEDS_LABELS = 'a networkPolicy peer needs namespaceLabels or podLabels';
const networkPeer = z
  .object({
    namespaceLabels: labels.optional().describe('namespaces with these labels (any namespace: {})'),
    podLabels: labels
      .optional()
      .describe("pods with these labels (in the pipeline's namespace unless namespaceLabels is set)"),
  })
  .superRefine((p, ctx) => {
    if (p.namespaceLabels === undefined && p.podLabels === undefined) {
      ctx.addIssue({ code: 'custom', message: NETWORK_PEER_NEEDS_LABELS });
    }
  })
  .meta(
    cel({ rule: 'has(self.namespaceLabels) || has(self.podLabels)', message: NETWORK_PEER_NEEDS_LABELS }),
  );

const networkPolicySpec = z.object({
  enabled: z
    .boolean()
    .default(false)
    .describe("a NetworkPolicy that lets traffic in to the pipeline's pods only on their ports"),
  apiFrom: z
    .array(networkPeer)
    .min(1) // an empty list would let anyone in, which reads as the opposite
    .max(16)
    .optional()
    .describe('who may reach the api port (its /metrics included); absent: anyone'),
  metricsFrom: z
    .array(networkPeer)
    .min(1) // an empty list would let anyone in, which reads as the opposite
    .max(16)
    .optional()
    .describe("who may reach the producer's and consumer's metrics port; absent: anyone"),
});

export const pipelineSpec = z
  .object({
    image: z.string().min(1).max(512).describe('image holding the api, producer and consumer'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    paused: z
      .boolean()
      .default(false)
      .describe('stop reconciling the children (they keep running as they are)'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    mysql: mysqlSpec,
    kafka: kafkaSpec,
    redis: redisSpec,
    producer: producerSpec.default({ startFrom: { kind: 'latest' }, snapshot: 'initial' }),
    consumer: consumerSpec.default({
      minReplicas: 1,
      maxReplicas: 4,
      lagThreshold: 1000,
      scaleDownStabilizationSeconds: 300,
    }),
    api: apiSpec,
    monitoring: monitoringSpec.default({ serviceMonitor: false }),
    networkPolicy: networkPolicySpec.default({ enabled: false }),
  })
  .superRefine((s, ctx) => {
    if (s.consumer.maxReplicas > s.kafka.partitions) {
      ctx.addIssue({
        code: 'custom',
        message: 'consumer.maxReplicas must not exceed kafka.partitions (extra consumers would sit idle)',
      });
    }
  })
  .meta(
    cel({
      rule: 'self.consumer.maxReplicas <= self.kafka.partitions',
      message: 'consumer.maxReplicas must not exceed kafka.partitions (extra consumers would sit idle)',
    }),
  );

export type PipelineSpec = z.infer<typeof pipelineSpec>;
export type PipelineSpecInput = z.input<typeof pipelineSpec>;
