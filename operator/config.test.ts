import { describe, expect, it } from 'vitest';
import { parseEnv } from '../runtime/core/config/env.ts';
import { operatorEnv } from './config.ts';

describe('operator environment', () => {
  it('watches every namespace by default, or the listed ones', () => {
    expect(parseEnv(operatorEnv, {}).watchNamespace).toEqual([]);
    expect(parseEnv(operatorEnv, { WATCH_NAMESPACE: 'payments' }).watchNamespace).toEqual(['payments']);
    expect(parseEnv(operatorEnv, { WATCH_NAMESPACE: 'payments, payments-eu' }).watchNamespace).toEqual([
      'payments',
      'payments-eu',
    ]);
    expect(() => parseEnv(operatorEnv, { WATCH_NAMESPACE: 'Payments' })).toThrow(/WATCH_NAMESPACE/);
  });

  it('reads the image and MySQL host allow-lists, empty by default', () => {
    const open = parseEnv(operatorEnv, {});
    expect([open.allowedImages, open.allowedMysqlHosts]).toEqual([[], []]);
    const config = parseEnv(operatorEnv, {
      ALLOWED_IMAGES: 'registry.example.com/payments/*,payment-pipeline',
      ALLOWED_MYSQL_HOSTS: '*.db.example.com',
    });
    expect(config.allowedImages).toEqual(['registry.example.com/payments/*', 'payment-pipeline']);
    expect(config.allowedMysqlHosts).toEqual(['*.db.example.com']);
  });

  it('reads as camelCase without the OPERATOR_ prefix, durations in ms, Kafka security resolved', () => {
    const config = parseEnv(operatorEnv, { OPERATOR_DUTIES: 'binlog', RESYNC_SECONDS: '60' });
    expect(config.duties).toEqual(['binlog']);
    expect(config.resyncMs).toBe(60_000);
    expect(config.leaseDurationMs).toBe(15_000);
    expect(config.watchTimeoutSeconds).toBe(25);
    expect(config.leaderElectionName).toBe('payment-pipeline-operator');
    expect(config.kafkaSecurity).toEqual({ protocol: 'PLAINTEXT' });
  });
});
