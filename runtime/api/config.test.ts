import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config/env.ts';
import { loadApiConfig } from './config.ts';

const base = {
  MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  AUTH_JWT_SECRET: 'x'.repeat(32),
};

describe('api config', () => {
  it('applies defaults; the Redis prefix falls back to TOPIC_PREFIX, then "payments"', () => {
    const c = loadApiConfig(base);
    expect(c).toMatchObject({
      API_PORT: 8080,
      API_HOST: '127.0.0.1',
      REDIS_KEY_PREFIX: 'payments',
      IDEMPOTENCY_TTL_HOURS: 24,
    });
    expect(loadApiConfig({ ...base, TOPIC_PREFIX: 'paytest' }).REDIS_KEY_PREFIX).toBe('paytest');
    expect(
      loadApiConfig({ ...base, TOPIC_PREFIX: 'paytest', REDIS_KEY_PREFIX: 'own' }).REDIS_KEY_PREFIX,
    ).toBe('own');
  });

  it('serves ops routes on a port of their own', () => {
    expect(loadApiConfig(base)).toMatchObject({
      API_OPS_PORT: 9465,
      API_OPS_HOST: '127.0.0.1',
      API_PUBLIC_OPS_ROUTES: false,
    });
    expect(() => loadApiConfig({ ...base, API_PORT: '9000', API_OPS_PORT: '9000' })).toThrow(/API_OPS_PORT/);
  });

  it('needs exactly one way to verify tokens', () => {
    const { AUTH_JWT_SECRET: _s, ...noAuth } = base;
    expect(() => loadApiConfig(noAuth)).toThrow(ConfigError);
    expect(() => loadApiConfig({ ...base, AUTH_JWKS_URL: 'https://idp.example/jwks.json' })).toThrow(
      /only one/,
    );
    expect(
      loadApiConfig({ ...noAuth, AUTH_JWKS_URL: 'https://idp.example/jwks.json' }).AUTH_JWKS_URL,
    ).toBeDefined();
  });

  it('keeps the payment recovery well clear of charges still in progress', () => {
    expect(loadApiConfig(base)).toMatchObject({
      PROVIDER_TIMEOUT_MS: 20_000,
      PAYMENT_RECOVERY_INTERVAL_MS: 60_000,
      PAYMENT_RECOVERY_STALE_AFTER_SECONDS: 300,
    });
    expect(() => loadApiConfig({ ...base, PAYMENT_RECOVERY_STALE_AFTER_SECONDS: '30' })).toThrow(
      /PAYMENT_RECOVERY_STALE_AFTER_SECONDS.*3 × PROVIDER_TIMEOUT_MS/,
    );
    expect(loadApiConfig({ ...base, PAYMENT_RECOVERY_INTERVAL_MS: '0' }).PAYMENT_RECOVERY_INTERVAL_MS).toBe(
      0,
    );
    expect(() => loadApiConfig({ ...base, PROVIDER_TIMEOUT_MS: '-1' })).toThrow(/PROVIDER_TIMEOUT_MS/);
  });

  it('lists every problem at once', () => {
    try {
      loadApiConfig({
        ...base,
        API_PORT: '0',
        MYSQL_URL: 'postgres://x',
        IDEMPOTENCY_TTL_HOURS: '1',
        AUTH_JWT_SECRET: 'short',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as ConfigError).issues.join('\n');
      for (const name of ['API_PORT', 'MYSQL_URL', 'IDEMPOTENCY_TTL_HOURS', 'AUTH_JWT_SECRET'])
        expect(text).toContain(name);
    }
  });
});
