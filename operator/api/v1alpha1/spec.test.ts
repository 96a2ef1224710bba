import { readFileSync } from 'node:fs';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type PipelineSpecInput, pipelineSpec } from './spec.ts';

const minimal: PipelineSpecInput = {
  image: 'payment-pipeline:dev',
  mysql: {
    host: 'db',
    database: 'payments',
    credentialsSecret: 'db-creds',
    serverId: 7,
    tables: ['purchases'],
  },
  kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay' },
  redis: { url: 'redis://cache:6379/0' },
  api: { authSecret: 'auth' },
};

function errors(input: unknown): string[] {
  const r = pipelineSpec.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.message);
}

describe('pipelineSpec', () => {
  it('fills the documented defaults', () => {
    const spec = pipelineSpec.parse(minimal);
    expect(spec.paused).toBe(false);
    expect(spec.mysql.port).toBe(3306);
    expect(spec.kafka.partitions).toBe(6);
    expect(spec.kafka.bootstrap).toEqual(['kafka:9092']);
    expect(spec.consumer).toMatchObject({ minReplicas: 1, maxReplicas: 4, lagThreshold: 1000 });
    expect(spec.producer.startFrom.kind).toBe('latest');
    expect(spec.api.service).toEqual({ type: 'ClusterIP', port: 80 });
  });

  it('accepts the shipped example', () => {
    const doc = loadYaml<{ spec: unknown }>(readFileSync('crds/examples/paymentpipeline.yaml', 'utf8'));
    expect(errors(doc.spec)).toEqual([]);
  });

  it('rejects disagreeing fields with the same messages as the CRD rules', () => {
    expect(errors({ ...minimal, consumer: { minReplicas: 5, maxReplicas: 2 } })).toContain(
      'consumer.minReplicas must not exceed consumer.maxReplicas',
    );
    expect(
      errors({ ...minimal, kafka: { ...minimal.kafka, partitions: 2 }, consumer: { maxReplicas: 3 } }),
    ).toContain('consumer.maxReplicas must not exceed kafka.partitions (extra consumers would sit idle)');
    expect(errors({ ...minimal, redis: { url: 'redis://x', secretName: 'r' } })).toContain(
      'exactly one of redis.url and redis.secretName must be set',
    );
    expect(
      errors({ ...minimal, producer: { startFrom: { kind: 'position', file: 'bin.000001' } } }),
    ).toContain('startFrom.file and startFrom.pos are required when kind is position');
  });

  it('takes a private Redis CA as a Secret reference, with rediss:// only', () => {
    const redis = { url: 'rediss://cache:6380/0', tls: { caSecret: 'redis-ca' } };
    expect(pipelineSpec.parse({ ...minimal, redis }).redis.tls).toEqual({ caSecret: 'redis-ca' });
    expect(errors({ ...minimal, redis: { ...redis, url: 'redis://cache:6379/0' } })).toContain(
      'redis.tls needs a rediss:// url (TLS is what the CA is for)',
    );
    // Only a Secret's name: an inline CA is not part of the spec (unknown fields are dropped).
    expect(
      pipelineSpec.parse({ ...minimal, redis: { ...redis, tls: { caSecret: 'redis-ca', ca: 'inline' } } })
        .redis.tls,
    ).toEqual({ caSecret: 'redis-ca' });
  });

  it('takes per-component Redis Secrets beside the shared url or secretName, names only', () => {
    const redis = { ...minimal.redis, consumerSecretName: 'redis-writer', apiSecretName: 'redis-reader' };
    expect(pipelineSpec.parse({ ...minimal, redis }).redis).toMatchObject(redis);
    expect(errors({ ...minimal, redis: { secretName: 'r', apiSecretName: 'redis-reader' } })).toEqual([]);
    // Still one shared connection (the operator's fallback); a Secret name, not a URL.
    expect(errors({ ...minimal, redis: { consumerSecretName: 'w', apiSecretName: 'r' } })).toContain(
      'exactly one of redis.url and redis.secretName must be set',
    );
    expect(
      errors({ ...minimal, redis: { ...minimal.redis, apiSecretName: 'rediss://api:pw@cache:6380' } }).length,
    ).toBeGreaterThan(0);
  });

  it('takes the Sentinels’ TLS and user for mode sentinel only', () => {
    const sentinel = { mode: 'sentinel', url: 'rediss://s1:26379,s2:26379', sentinelMaster: 'm' } as const;
    expect(
      errors({ ...minimal, redis: { ...sentinel, sentinelTls: true, sentinelSecretName: 's' } }),
    ).toEqual([]);
    expect(errors({ ...minimal, redis: { ...minimal.redis, sentinelTls: true } })).toContain(
      'redis.sentinelTls and redis.sentinelSecretName are for mode sentinel only',
    );
  });

  it('accepts host names and IP addresses as mysql.host, nothing that changes the URL', () => {
    for (const host of ['db', 'mariadb.payments.svc.cluster.local', '10.0.0.7', '[fd00::7]']) {
      expect(errors({ ...minimal, mysql: { ...minimal.mysql, host } }), host).toEqual([]);
    }
    for (const host of ['evil.example@db', 'db/x', 'db:3306', 'db?x=1', 'db x', '-db', 'db..svc', '']) {
      expect(errors({ ...minimal, mysql: { ...minimal.mysql, host } }).length, host).toBeGreaterThan(0);
    }
  });

  it('takes a JWKS URL instead of the HS256 secret; the auth Secret (consistency-token key) stays required', () => {
    const jwks = { jwksUrl: 'https://idp.example.com/jwks.json', issuer: 'https://idp.example.com/' };
    expect(errors({ ...minimal, api: { authSecret: 'auth', auth: jwks } })).toEqual([]);
    expect(pipelineSpec.parse({ ...minimal, api: { authSecret: 'auth', auth: jwks } }).api.auth).toEqual(
      jwks,
    );
    expect(errors({ ...minimal, api: { auth: jwks } }).length).toBeGreaterThan(0);
    expect(
      errors({
        ...minimal,
        api: { authSecret: 'auth', auth: { jwksUrl: 'http://idp.example.com/jwks.json' } },
      }),
    ).toEqual(['must be an https:// URL']);
  });

  it('needs labels in each networkPolicy peer', () => {
    expect(errors({ ...minimal, networkPolicy: { enabled: true, apiFrom: [{}] } })).toEqual([
      'a networkPolicy peer needs namespaceLabels or podLabels',
    ]);
    expect(pipelineSpec.parse(minimal).networkPolicy).toEqual({ enabled: false });
  });

  it('accepts redis.mode cluster with seed nodes; no database, no Sentinel master', () => {
    const seeds = 'redis://r0:6379,r1:6379,r2:6379';
    expect(errors({ ...minimal, redis: { mode: 'cluster', url: seeds } })).toEqual([]);
    expect(errors({ ...minimal, redis: { mode: 'cluster', url: 'redis://r0:6379/3' } })).toEqual([
      'redis.url of mode cluster names no database (a Redis Cluster has only db 0)',
    ]);
    expect(errors({ ...minimal, redis: { mode: 'cluster', url: seeds, sentinelMaster: 'm' } })).toEqual([
      'redis.sentinelMaster is for mode sentinel only',
    ]);
  });

  it('takes several hosts in redis.url only as Sentinels', () => {
    const sentinels = 'redis://s1:26379,s2:26379/0';
    expect(errors({ ...minimal, redis: { url: sentinels } })).toEqual([
      'redis.url names several hosts: they are Sentinels (mode sentinel) or cluster seed nodes (mode cluster)',
    ]);
    expect(
      errors({ ...minimal, redis: { mode: 'sentinel', url: sentinels, sentinelMaster: 'mymaster' } }),
    ).toEqual([]);
    expect(errors({ ...minimal, redis: { mode: 'sentinel', url: sentinels } })).toEqual([
      'redis.sentinelMaster is required when mode is sentinel',
    ]);
  });

  it('rejects malformed values', () => {
    expect(errors({ ...minimal, kafka: { bootstrap: 'no-port', topicPrefix: 'pay' } })).toContain(
      'must be host:port[,host:port...]',
    );
    expect(errors({ ...minimal, mysql: { ...minimal.mysql, credentialsSecret: 'Bad_Name' } })[0]).toMatch(
      /DNS-1123/,
    );
    expect(errors({ ...minimal, redis: { url: 'http://x' } })).toContain(
      'must be a redis:// or rediss:// URL',
    );
  });
});
