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
      port: 8080,
      host: '127.0.0.1',
      redisKeyPrefix: 'payments',
      idempotencyTtlHours: 24,
    });
    expect(loadApiConfig({ ...base, TOPIC_PREFIX: 'paytest' }).redisKeyPrefix).toBe('paytest');
    expect(loadApiConfig({ ...base, TOPIC_PREFIX: 'paytest', REDIS_KEY_PREFIX: 'own' }).redisKeyPrefix).toBe(
      'own',
    );
  });

  it('serves ops routes on a port of their own', () => {
    expect(loadApiConfig(base)).toMatchObject({
      opsPort: 9465,
      opsHost: '127.0.0.1',
      publicOpsRoutes: false,
    });
    expect(() => loadApiConfig({ ...base, API_PORT: '9000', API_OPS_PORT: '9000' })).toThrow(/API_OPS_PORT/);
  });

  it('bounds a request above the provider timeout', () => {
    expect(loadApiConfig(base).requestTimeoutMs).toBe(30_000);
    expect(() => loadApiConfig({ ...base, API_REQUEST_TIMEOUT_MS: '20000' })).toThrow(
      /API_REQUEST_TIMEOUT_MS/,
    );
    expect(loadApiConfig({ ...base, API_REQUEST_TIMEOUT_MS: '0' }).requestTimeoutMs).toBe(0);
  });

  it('needs exactly one way to verify tokens', () => {
    const { AUTH_JWT_SECRET: _s, ...noAuth } = base;
    expect(() => loadApiConfig(noAuth)).toThrow(ConfigError);
    expect(() => loadApiConfig({ ...base, AUTH_JWKS_URL: 'https://idp.example/jwks.json' })).toThrow(
      /only one/,
    );
    const jwks = { ...noAuth, AUTH_JWKS_URL: 'https://idp.example/jwks.json' };
    expect(() => loadApiConfig(jwks)).toThrow(/CONSISTENCY_TOKEN_SECRET/);
    expect(loadApiConfig({ ...jwks, CONSISTENCY_TOKEN_SECRET: 'c'.repeat(32) }).authJwksUrl).toBeDefined();
  });

  it('keeps the payment recovery well clear of charges still in progress', () => {
    expect(loadApiConfig(base)).toMatchObject({
      providerTimeoutMs: 20_000,
      paymentRecoveryIntervalMs: 60_000,
      paymentRecoveryStaleAfterSeconds: 300,
    });
    expect(() => loadApiConfig({ ...base, PAYMENT_RECOVERY_STALE_AFTER_SECONDS: '30' })).toThrow(
      /PAYMENT_RECOVERY_STALE_AFTER_SECONDS.*3 × PROVIDER_TIMEOUT_MS/,
    );
    expect(loadApiConfig({ ...base, PAYMENT_RECOVERY_INTERVAL_MS: '0' }).paymentRecoveryIntervalMs).toBe(0);
    expect(() => loadApiConfig({ ...base, PROVIDER_TIMEOUT_MS: '-1' })).toThrow(/PROVIDER_TIMEOUT_MS/);
  });

  it('refuses the simulated provider in production unless explicitly allowed', () => {
    expect(loadApiConfig(base)).toMatchObject({ paymentProvider: 'simulated', nodeEnv: 'development' });
    const prod = { ...base, NODE_ENV: 'production', CONSISTENCY_TOKEN_SECRET: 'c'.repeat(32) };
    expect(() => loadApiConfig(prod)).toThrow(/PAYMENT_PROVIDER: .*ALLOW_SIMULATED_PROVIDER=true/);
    expect(() => loadApiConfig({ ...prod, ALLOW_SIMULATED_PROVIDER: 'false' })).toThrow(/PAYMENT_PROVIDER/);
    expect(loadApiConfig({ ...prod, ALLOW_SIMULATED_PROVIDER: 'true' }).allowSimulatedProvider).toBe(true);
    // Stripe is a real provider: production runs it, given its key.
    expect(() => loadApiConfig({ ...prod, PAYMENT_PROVIDER: 'stripe' })).toThrow(
      /STRIPE_SECRET_KEY: required with PAYMENT_PROVIDER=stripe/,
    );
    expect(
      loadApiConfig({ ...prod, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_live_abc' }),
    ).toMatchObject({ paymentProvider: 'stripe', stripeApiBase: 'https://api.stripe.com' });
    expect(() =>
      loadApiConfig({ ...prod, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'pk_live_abc' }),
    ).toThrow(/STRIPE_SECRET_KEY: must be a Stripe secret key/);
    expect(() =>
      loadApiConfig({
        ...prod,
        PAYMENT_PROVIDER: 'stripe',
        STRIPE_SECRET_KEY: 'sk_live_abc',
        STRIPE_TIMEOUT_MS: '20000',
        PROVIDER_TIMEOUT_MS: '20000',
      }),
    ).toThrow(/STRIPE_TIMEOUT_MS: must be below PROVIDER_TIMEOUT_MS/);
    // Outside development means anything but development and test.
    expect(() => loadApiConfig({ ...prod, NODE_ENV: 'staging' })).toThrow(/ALLOW_SIMULATED_PROVIDER=true/);
    expect(loadApiConfig({ ...base, NODE_ENV: 'test' }).nodeEnv).toBe('test');
  });

  it('signs consistency tokens with a configured key, required in production', () => {
    expect(() =>
      loadApiConfig({ ...base, NODE_ENV: 'production', ALLOW_SIMULATED_PROVIDER: 'true' }),
    ).toThrow(/CONSISTENCY_TOKEN_SECRET: required unless NODE_ENV is development or test/);
    expect(() => loadApiConfig({ ...base, CONSISTENCY_TOKEN_SECRET: 'short' })).toThrow(
      /CONSISTENCY_TOKEN_SECRET/,
    );
    expect(loadApiConfig(base).consistencyTokenSecret).toBeUndefined();
  });

  it('keeps webhook events 30 days by default', () => {
    expect(loadApiConfig(base).webhookEventRetentionDays).toBe(30);
    expect(() => loadApiConfig({ ...base, WEBHOOK_EVENT_RETENTION_DAYS: '0' })).toThrow(
      /WEBHOOK_EVENT_RETENTION_DAYS/,
    );
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

  it('bounds Stripe attempts by the provider timeout only when the provider is Stripe', () => {
    // A short provider timeout with the simulated provider starts (it used to be refused).
    expect(loadApiConfig({ ...base, PROVIDER_TIMEOUT_MS: '2000' }).providerTimeoutMs).toBe(2000);
    const stripe = { ...base, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_123' };
    expect(() => loadApiConfig({ ...stripe, PROVIDER_TIMEOUT_MS: '2000' })).toThrow(/STRIPE_TIMEOUT_MS/);
    expect(
      loadApiConfig({ ...stripe, PROVIDER_TIMEOUT_MS: '2000', STRIPE_TIMEOUT_MS: '1500' }),
    ).toMatchObject({
      stripeTimeoutMs: 1500,
    });
  });

  it('takes the Redis CA as a file or as PEM text, not both', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(loadApiConfig({ ...base, REDIS_TLS_CA_PEM: pem }).redisTlsCaPem).toBe(pem);
    expect(() => loadApiConfig({ ...base, REDIS_TLS_CA_PEM: 'not a certificate' })).toThrow(
      /REDIS_TLS_CA_PEM/,
    );
    expect(() => loadApiConfig({ ...base, REDIS_TLS_CA_PEM: pem, REDIS_TLS_CA_FILE: '/ca.crt' })).toThrow(
      /set only one of REDIS_TLS_CA_FILE and REDIS_TLS_CA_PEM/,
    );
  });
});
