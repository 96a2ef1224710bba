// The pipeline end to end in the secure profile (SECURE=1 make up): MariaDB TLS-only, Kafka SASL_SSL
// with the standard authorizer, each service with its own Kafka user and only its ACLs — on a private
// stack made by the project's scripts.
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaSecurity } from '../../runtime/core/kafka/index.ts';
import { uniqueSuffix } from '../support/env.ts';
import { type PrivateStack, privateStack } from '../support/private-stack.ts';
import { freeStablePort } from '../support/wait.ts';
import { apiClient } from './api-client.ts';
import { eventually, type Pipeline, startPipeline } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = `.local/secure-e2e-${uniqueSuffix()}`;
const PREFIX = `sec${uniqueSuffix()}`;

type Entry = { purchase_id: string; paid: boolean; payment: { id: string; status: string } | null };

describe('pipeline end to end in the secure profile (TLS MySQL, SASL_SSL Kafka with ACLs)', () => {
  let stack: PrivateStack;
  let p: Pipeline;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    stack = privateStack('outage', ['mariadb', 'redis', 'kafka'], {
      dir: DIR,
      env: {
        SECURE: '1',
        KAFKA_ACL_PREFIX: PREFIX,
        MYSQL_PORT: String(await freeStablePort()),
        REDIS_PORT: String(await freeStablePort()),
        KAFKA_PORT: String(await freeStablePort()),
        KAFKA_CONTROLLER_PORT: String(await freeStablePort()),
      },
    });
    await stack.run('up');
    const env = stack.env();
    const ca = env.KAFKA_TLS_CA_FILE ?? '';
    const kafkaUser = (user: 'PRODUCER' | 'CONSUMER' | 'ADMIN') => ({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: env[`KAFKA_${user}_USERNAME`] ?? '',
      KAFKA_SASL_PASSWORD: env[`KAFKA_${user}_PASSWORD`] ?? '',
      KAFKA_TLS_CA_FILE: ca,
    });
    const admin = kafkaUser('ADMIN');
    const adminSecurity: KafkaSecurity = {
      protocol: 'SASL_SSL',
      sasl: {
        mechanism: 'SCRAM-SHA-512',
        username: admin.KAFKA_SASL_USERNAME,
        password: admin.KAFKA_SASL_PASSWORD,
      },
      tls: { ca: readFileSync(ca, 'utf8') },
    };
    p = await startPipeline({
      stack: env,
      prefix: PREFIX,
      adminSecurity,
      producerEnv: kafkaUser('PRODUCER'),
      consumerEnv: kafkaUser('CONSUMER'),
      // The test mints its tokens with the test stack's secret.
      apiEnv: { AUTH_JWT_SECRET: process.env.AUTH_JWT_SECRET ?? '' },
    });
    api = apiClient(p.apiUrl);
  }, 300_000);

  afterAll(async () => {
    await p?.teardown().catch(() => undefined);
    await stack?.run('down');
    rmSync(`${ROOT}/${DIR}`, { recursive: true, force: true });
  });

  it('serves a purchase written through the api from Redis, through TLS and SASL all the way', async () => {
    expect(p.db.appUrl).toMatch(/\?ssl-ca=\//);
    const user = 'u_secure';
    const created = await api.createPurchase(user, 'pkg_plus');
    expect(created.status).toBe(201);
    const paymentId = (created.body.payment as { id: string }).id;
    const confirmed = await api.confirm(user, paymentId);
    expect(confirmed.status).toBe(200);
    const page = await eventually(
      'paid purchase from redis',
      async () => {
        const r = await api.purchases(user, '');
        return { source: r.headers.get('x-package-source'), items: (r.body.items ?? []) as Entry[] };
      },
      (r) => r.source === 'redis' && r.items[0]?.payment?.status === 'succeeded',
    );
    expect(page.items[0]).toMatchObject({ paid: true, payment: { id: paymentId, status: 'succeeded' } });
  });
});
