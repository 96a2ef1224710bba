import { describe, expect, it } from 'vitest';
import { parseEnv } from '../runtime/core/config/env.ts';
import { operatorEnv } from './config.ts';

describe('operator environment', () => {
  it('watches every namespace by default, or the listed ones', () => {
    expect(parseEnv(operatorEnv, {}).WATCH_NAMESPACE).toEqual([]);
    expect(parseEnv(operatorEnv, { WATCH_NAMESPACE: 'payments' }).WATCH_NAMESPACE).toEqual(['payments']);
    expect(parseEnv(operatorEnv, { WATCH_NAMESPACE: 'payments, payments-eu' }).WATCH_NAMESPACE).toEqual([
      'payments',
      'payments-eu',
    ]);
    expect(() => parseEnv(operatorEnv, { WATCH_NAMESPACE: 'Payments' })).toThrow(/WATCH_NAMESPACE/);
  });

  it('reads the image and MySQL host allow-lists, empty by default', () => {
    const open = parseEnv(operatorEnv, {});
    expect([open.ALLOWED_IMAGES, open.ALLOWED_MYSQL_HOSTS]).toEqual([[], []]);
    const env = parseEnv(operatorEnv, {
      ALLOWED_IMAGES: 'registry.example.com/payments/*,payment-pipeline',
      ALLOWED_MYSQL_HOSTS: '*.db.example.com',
    });
    expect(env.ALLOWED_IMAGES).toEqual(['registry.example.com/payments/*', 'payment-pipeline']);
    expect(env.ALLOWED_MYSQL_HOSTS).toEqual(['*.db.example.com']);
  });
});
