import { describe, expect, it } from 'vitest';
import { pipelineSpec } from '../api/v1alpha1/spec.ts';
import { hostAllowed, imageAllowed, refusal } from './policy.ts';

describe('image allow-list', () => {
  const allowed = ['registry.example.com/payments/*', 'payment-pipeline', 'tools/debug:1.2@sha256:abc'];

  it('allows everything when empty', () => {
    expect(imageAllowed('anything:latest', [])).toBe(true);
  });

  it.each([
    'registry.example.com/payments/pipeline:1.0',
    'registry.example.com/payments/a/b@sha256:0123',
    'payment-pipeline',
    'payment-pipeline:0.1.0',
    'payment-pipeline@sha256:0123',
    'tools/debug:1.2@sha256:abc',
  ])('allows %s', (image) => {
    expect(imageAllowed(image, allowed)).toBe(true);
  });

  it.each([
    'registry.example.com/payments-evil/pipeline:1.0', // prefix without its separator
    'registry.example.com.evil.io/payments/pipeline:1.0',
    'registry.example.com/payments', // the prefix itself names no image under it
    'payment-pipeline-evil:1.0',
    'evil.io/payment-pipeline:1.0',
    'tools/debug:1.2', // pinned entries match exactly
    'tools/debug:1.2@sha256:abd',
  ])('refuses %s', (image) => {
    expect(imageAllowed(image, allowed)).toBe(false);
  });
});

describe('MySQL host allow-list', () => {
  const allowed = ['mariadb.payments.svc', '*.db.example.com'];

  it('allows exact names (any case) and names under a wildcard domain', () => {
    expect(hostAllowed('mariadb.payments.svc', allowed)).toBe(true);
    expect(hostAllowed('MariaDB.Payments.svc', allowed)).toBe(true);
    expect(hostAllowed('eu-1.db.example.com', allowed)).toBe(true);
    expect(hostAllowed('a.b.db.example.com', allowed)).toBe(true);
    expect(hostAllowed('anything', [])).toBe(true);
  });

  it('refuses everything else', () => {
    expect(hostAllowed('db.example.com', allowed)).toBe(false);
    expect(hostAllowed('evildb.example.com', allowed)).toBe(false);
    expect(hostAllowed('mariadb.payments.svc.evil.io', allowed)).toBe(false);
    expect(hostAllowed('10.0.0.1', allowed)).toBe(false);
  });
});

describe('refusal', () => {
  const spec = pipelineSpec.parse({
    image: 'evil.io/exfiltrate:1',
    mysql: { host: 'db.evil.io', database: 'payments', credentialsSecret: 'db', serverId: 7, tables: ['t'] },
    kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay' },
    redis: { url: 'redis://cache:6379/0' },
    api: { authSecret: 'auth' },
  });

  it('names the image first, then the host, with a reason for the condition', () => {
    expect(refusal(spec, { images: ['payment-pipeline'], mysqlHosts: ['db'] })).toMatchObject({
      reason: 'ImageNotAllowed',
      message: expect.stringContaining('evil.io/exfiltrate:1'),
    });
    expect(refusal(spec, { images: ['evil.io/*'], mysqlHosts: ['db'] })).toMatchObject({
      reason: 'MysqlHostNotAllowed',
      message: expect.stringContaining('db.evil.io'),
    });
    expect(refusal(spec, { images: [], mysqlHosts: [] })).toBeUndefined();
  });
});
