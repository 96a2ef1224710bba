import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentPipeline } from '../../operator/api/v1alpha1/types.ts';
import { KubeApiError } from '../../operator/framework/kube/http.ts';
import {
  createNamespace,
  deleteNamespace,
  ensureCrd,
  type Kube,
  kubeClient,
  kubeConfig,
  pipeline,
  pipelineSpec,
} from './support.ts';

// The API server itself rejects bad PaymentPipelines: OpenAPI schema, CEL rules and transition rules
// from the generated CRD. No operator runs in this suite.

const kube: Kube = kubeClient(kubeConfig());
let ns = '';

beforeAll(async () => {
  await ensureCrd(kube);
  ns = await createNamespace(kube, 'op-validation');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kube, ns);
});

async function rejection(action: Promise<unknown>): Promise<string> {
  try {
    await action;
  } catch (err) {
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(422);
    return (err as KubeApiError).message;
  }
  throw new Error('the API server accepted an invalid PaymentPipeline');
}

const create = (name: string, spec: unknown) => kube.create('PaymentPipeline', ns, pipeline(ns, name, spec));

describe('PaymentPipeline admission on the real API server', () => {
  it('fills defaults from the schema', async () => {
    const p = await create('defaults', pipelineSpec());
    const spec = (p as PaymentPipeline).spec as Record<string, Record<string, unknown>>;
    expect(spec.consumer).toMatchObject({ minReplicas: 1, maxReplicas: 4, lagThreshold: 1000 });
    expect(spec.mysql?.port).toBe(3306);
    expect(spec.producer).toMatchObject({ startFrom: { kind: 'latest' }, snapshot: 'initial' });
  });

  it('rejects fields that disagree, with the CEL messages', async () => {
    expect(
      await rejection(create('minmax', pipelineSpec({ consumer: { minReplicas: 4, maxReplicas: 2 } }))),
    ).toContain('consumer.minReplicas must not exceed consumer.maxReplicas');
    expect(
      await rejection(
        create(
          'partitions',
          pipelineSpec({
            kafka: { bootstrap: 'k:9092', topicPrefix: 'p', partitions: 2 },
            consumer: { maxReplicas: 3 },
          }),
        ),
      ),
    ).toContain('consumer.maxReplicas must not exceed kafka.partitions');
    expect(
      await rejection(create('redis', pipelineSpec({ redis: { url: 'redis://r:6379', secretName: 'r' } }))),
    ).toContain('exactly one of redis.url and redis.secretName must be set');
    expect(
      await rejection(create('startfrom', pipelineSpec({ producer: { startFrom: { kind: 'gtid' } } }))),
    ).toContain('startFrom.gtid is required when kind is gtid');
    expect(
      await rejection(
        create('cluster', pipelineSpec({ redis: { mode: 'cluster', url: 'redis://r:6379/2' } })),
      ),
    ).toContain('redis.url of mode cluster names no database (a Redis Cluster has only db 0)');
    await create('cluster-ok', pipelineSpec({ redis: { mode: 'cluster', url: 'redis://r0:6379,r1:6379' } }));
    expect(
      await rejection(create('hosts', pipelineSpec({ redis: { url: 'redis://s1:26379,s2:26379' } }))),
    ).toContain(
      'redis.url names several hosts: they are Sentinels (mode sentinel) or cluster seed nodes (mode cluster)',
    );
    await create(
      'sentinel',
      pipelineSpec({
        redis: { mode: 'sentinel', url: 'redis://s1:26379,s2:26379', sentinelMaster: 'payments' },
      }),
    );
    // Per-component Redis users: Secret names beside the shared one, never a URL.
    await create(
      'redis-users',
      pipelineSpec({
        redis: { secretName: 'redis', consumerSecretName: 'redis-writer', apiSecretName: 'redis-reader' },
      }),
    );
    expect(
      await rejection(
        create(
          'redis-inline',
          pipelineSpec({ redis: { secretName: 'redis', apiSecretName: 'rediss://api:pw@cache:6380' } }),
        ),
      ),
    ).toContain('spec.redis.apiSecretName');
    expect(
      await rejection(
        create('sentinel-tls', pipelineSpec({ redis: { url: 'rediss://r:6380', sentinelTls: true } })),
      ),
    ).toContain('redis.sentinelTls and redis.sentinelSecretName are for mode sentinel only');
  });

  it('rejects malformed values and missing fields, naming the field', async () => {
    const bad = await rejection(
      create('malformed', { ...pipelineSpec(), kafka: { bootstrap: 'no-port', topicPrefix: 'bad prefix!' } }),
    );
    expect(bad).toContain('spec.kafka.bootstrap');
    expect(bad).toContain('spec.kafka.topicPrefix');
    const { image: _image, ...noImage } = pipelineSpec();
    expect(await rejection(create('noimage', noImage))).toContain('spec.image: Required value');
    expect(await rejection(create('enum', { ...pipelineSpec(), imagePullPolicy: 'Sometimes' }))).toContain(
      'spec.imagePullPolicy: Unsupported value',
    );
  });

  it('takes a JWKS URL with issuer and audience instead of the HS256 secret; the auth Secret stays required', async () => {
    const auth = {
      jwksUrl: 'https://idp.example.com/jwks.json',
      issuer: 'https://idp.example.com/',
      audience: 'pay',
    };
    const p = (await create('jwks', pipelineSpec({ api: { authSecret: 'auth', auth } }))) as PaymentPipeline;
    expect((p.spec as { api: { auth: unknown } }).api.auth).toEqual(auth);
    // It holds the consistency-token key a production api needs, JWKS or not.
    expect(await rejection(create('noauth', { ...pipelineSpec(), api: { auth } }))).toContain(
      'spec.api.authSecret',
    );
    expect(
      await rejection(
        create(
          'plainjwks',
          pipelineSpec({ api: { authSecret: 'auth', auth: { jwksUrl: 'http://idp.example.com/jwks' } } }),
        ),
      ),
    ).toContain('spec.api.auth.jwksUrl');
  });

  it('accepts only a host name or an IP address as mysql.host', async () => {
    const withHost = (host: string) => pipelineSpec({ mysql: { ...pipelineSpec().mysql, host } });
    await create('host-name', withHost('mariadb.payments.svc.cluster.local'));
    await create('host-ip', withHost('10.0.0.7'));
    await create('host-ipv6', withHost('[fd00::7]'));
    for (const [name, host] of [
      ['host-userinfo', 'collector.evil.io@mariadb'],
      ['host-path', 'mariadb/other'],
      ['host-port', 'mariadb:3307'],
    ] as const) {
      expect(await rejection(create(name, withHost(host))), host).toContain('spec.mysql.host');
    }
  });

  it('refuses to change what must not change', async () => {
    await create('immutable', pipelineSpec());
    const msg = await rejection(
      kube.mergePatch('PaymentPipeline', ns, 'immutable', {
        spec: { mysql: { serverId: 9999 }, kafka: { topicPrefix: 'other' } },
      }),
    );
    expect(msg).toContain('mysql.serverId is immutable');
    expect(msg).toContain('kafka.topicPrefix is immutable');
    // Everything else stays editable.
    await kube.mergePatch('PaymentPipeline', ns, 'immutable', { spec: { api: { replicas: 5 } } });
  });
});
