import { z } from 'zod';
import { camelConfig, type Env, parseEnv } from '../core/config/env.ts';
import {
  boolFromEnv,
  logLevel,
  mysqlUrl,
  nonNegativeInt,
  port,
  positiveInt,
  redisConnectionRule,
  redisKeyPrefix,
  redisMode,
  redisSentinelFields,
  redisSentinelMaster,
  redisTlsFields,
  redisUrl,
  topicPrefix,
} from '../core/config/fields.ts';
import { isLegacyTrustProxy, PRIVATE_PROXY_RANGES, trustProxySetting } from './trust-proxy.ts';

/** Environments that may run without production safeguards (the simulated provider, a derived token key). */
export const isDevelopment = (nodeEnv: string) => nodeEnv === 'development' || nodeEnv === 'test';

export const apiEnvSchema = z
  .object({
    API_PORT: port.default(8080),
    API_HOST: z.string().min(1).default('127.0.0.1'),
    /** /metrics, /readyz and /healthz, apart from the public port (as the producer and consumer serve them). */
    API_OPS_PORT: port.default(9465),
    API_OPS_HOST: z.string().min(1).default('127.0.0.1'),
    /** Deprecated: /metrics and /readyz on the public port too, as before the ops port. */
    API_PUBLIC_OPS_ROUTES: boolFromEnv.default(false),
    /** The API reference page (/docs and its assets) on the public port; /openapi.json stays either way. */
    API_DOCS_ENABLED: boolFromEnv.default(true),
    /**
     * Trusted proxies (addresses / CIDR blocks, comma-separated): the client address is the rightmost
     * X-Forwarded-For hop that is not one of them. `true` (deprecated) = loopback and private ranges.
     */
    API_TRUST_PROXY: trustProxySetting.default([]),
    MYSQL_URL: mysqlUrl,
    MYSQL_POOL_SIZE: positiveInt.max(500).default(20),
    REDIS_URL: redisUrl,
    ...redisTlsFields,
    /** Set: REDIS_URL names Sentinels and this is the master group they monitor. */
    REDIS_SENTINEL_MASTER: redisSentinelMaster.optional(),
    ...redisSentinelFields,
    /** standalone | sentinel | cluster (REDIS_URL then names seed nodes); default from REDIS_SENTINEL_MASTER. */
    REDIS_MODE: redisMode.optional(),
    REDIS_KEY_PREFIX: redisKeyPrefix.optional(),
    TOPIC_PREFIX: topicPrefix.optional(),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_JWT_ISSUER: z.string().min(1).optional(),
    AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
    WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    WEBHOOK_TOLERANCE_SECONDS: positiveInt.max(3600).default(300),
    /** Processed provider callbacks are kept this long for dedupe (longer than any provider's retry window). */
    WEBHOOK_EVENT_RETENTION_DAYS: positiveInt.max(3650).default(30),
    /**
     * Anything but `development` / `test` (the image sets `production`) refuses the simulated provider
     * unless explicitly allowed, and needs CONSISTENCY_TOKEN_SECRET.
     */
    NODE_ENV: z.string().min(1).default('development'),
    /** The payment provider adapter: `stripe` (PaymentIntents) or the in-process simulation. */
    PAYMENT_PROVIDER: z.enum(['simulated', 'stripe']).default('simulated'),
    /** Stripe's secret key (sk_… or a restricted rk_… key); required with PAYMENT_PROVIDER=stripe. */
    STRIPE_SECRET_KEY: z
      .string()
      .regex(/^(sk|rk)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_… or rk_…)')
      .optional(),
    /** Stripe's API address (stripe-mock's in the local stack's tests). */
    STRIPE_API_BASE: z.url().default('https://api.stripe.com'),
    /** Pins Stripe's API version (Stripe-Version header); unset = the account's default. */
    STRIPE_API_VERSION: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/)
      .optional(),
    /** One Stripe request's timeout; retried (same Idempotency-Key) up to STRIPE_MAX_RETRIES times. */
    STRIPE_TIMEOUT_MS: positiveInt.max(120_000).default(5_000),
    STRIPE_MAX_RETRIES: nonNegativeInt.max(5).default(2),
    /** Lets a production NODE_ENV run the simulated provider (demo and test clusters: no money moves). */
    ALLOW_SIMULATED_PROVIDER: boolFromEnv.default(false),
    /**
     * HMAC key of consistency tokens (at least 32 characters); required outside development. Unset in
     * development, it is derived from AUTH_JWT_SECRET.
     */
    CONSISTENCY_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    RATE_LIMIT_USER_PER_MINUTE: nonNegativeInt.default(1200),
    RATE_LIMIT_IP_PER_MINUTE: nonNegativeInt.default(6000),
    /** Purchase pages kept in process memory, invalidated by Redis (0 turns the near cache off). */
    PACKAGE_NEAR_CACHE_BYTES: nonNegativeInt.max(4 * 1024 ** 3).default(64 * 1024 ** 2),
    /** Safety net only (invalidations keep pages fresh): a page older than this is read again. */
    PACKAGE_NEAR_CACHE_MAX_AGE_MS: positiveInt.max(3_600_000).default(30_000),
    BODY_LIMIT_BYTES: positiveInt.max(1_048_576).default(16_384),
    /** A charge not answered by then has an unknown outcome: the payment stays processing. */
    PROVIDER_TIMEOUT_MS: positiveInt.max(300_000).default(20_000),
    /** A request not answered by then gets 503 (a hung MySQL or Redis holds it); 0 = no limit. */
    API_REQUEST_TIMEOUT_MS: nonNegativeInt.max(600_000).default(30_000),
    /** How often each replica looks for payments left processing (0 turns the recovery off). */
    PAYMENT_RECOVERY_INTERVAL_MS: nonNegativeInt.max(3_600_000).default(60_000),
    /** Only payments processing for this long are recovered; must stay well above the provider timeout. */
    PAYMENT_RECOVERY_STALE_AFTER_SECONDS: positiveInt.max(86_400).default(300),
    IDEMPOTENCY_TTL_HOURS: positiveInt.min(24, 'keys are kept at least 24 h').default(24),
    SHUTDOWN_TIMEOUT_MS: positiveInt.default(25_000),
    LOG_LEVEL: logLevel.default('info'),
  })
  .refine((e) => e.AUTH_JWT_SECRET !== undefined || e.AUTH_JWKS_URL !== undefined, {
    message: 'set AUTH_JWT_SECRET (HS256, development) or AUTH_JWKS_URL (RS256, production)',
    path: ['AUTH_JWT_SECRET'],
    // Report this together with field errors, so one start lists every problem.
    when: () => true,
  })
  .refine((e) => e.AUTH_JWT_SECRET === undefined || e.AUTH_JWKS_URL === undefined, {
    message: 'set only one of AUTH_JWT_SECRET and AUTH_JWKS_URL',
    path: ['AUTH_JWKS_URL'],
    when: () => true,
  })
  .refine(
    (e) => isDevelopment(e.NODE_ENV) || e.PAYMENT_PROVIDER !== 'simulated' || e.ALLOW_SIMULATED_PROVIDER,
    {
      message:
        'the simulated provider takes no money: only NODE_ENV=development or test runs it unless ALLOW_SIMULATED_PROVIDER=true',
      path: ['PAYMENT_PROVIDER'],
      when: () => true,
    },
  )
  .refine((e) => e.PAYMENT_PROVIDER !== 'stripe' || e.STRIPE_SECRET_KEY !== undefined, {
    message: 'required with PAYMENT_PROVIDER=stripe',
    path: ['STRIPE_SECRET_KEY'],
    when: () => true,
  })
  // Only Stripe's attempts run inside the confirm's provider timeout; the simulated provider has none.
  .refine((e) => e.PAYMENT_PROVIDER !== 'stripe' || e.STRIPE_TIMEOUT_MS < e.PROVIDER_TIMEOUT_MS, {
    message:
      'must be below PROVIDER_TIMEOUT_MS: no Stripe attempt could finish before the confirm gives up on it',
    path: ['STRIPE_TIMEOUT_MS'],
    when: () => true,
  })
  .refine((e) => e.CONSISTENCY_TOKEN_SECRET !== undefined || isDevelopment(e.NODE_ENV), {
    message:
      'required unless NODE_ENV is development or test (signs consistency tokens; at least 32 characters)',
    path: ['CONSISTENCY_TOKEN_SECRET'],
    when: () => true,
  })
  .refine(
    (e) =>
      e.CONSISTENCY_TOKEN_SECRET !== undefined ||
      e.AUTH_JWT_SECRET !== undefined ||
      !isDevelopment(e.NODE_ENV),
    {
      message: 'required with AUTH_JWKS_URL (there is no AUTH_JWT_SECRET to derive it from)',
      path: ['CONSISTENCY_TOKEN_SECRET'],
      when: () => true,
    },
  )
  .refine((e) => e.API_REQUEST_TIMEOUT_MS === 0 || e.API_REQUEST_TIMEOUT_MS > e.PROVIDER_TIMEOUT_MS, {
    message: 'must be above PROVIDER_TIMEOUT_MS: a confirm waiting for the provider would be cut off',
    path: ['API_REQUEST_TIMEOUT_MS'],
    when: () => true,
  })
  .refine((e) => e.API_OPS_PORT === 0 || e.API_OPS_PORT !== e.API_PORT, {
    message: 'must differ from API_PORT',
    path: ['API_OPS_PORT'],
    when: () => true,
  })
  .superRefine(...redisConnectionRule())
  .refine((e) => e.PAYMENT_RECOVERY_STALE_AFTER_SECONDS * 1000 >= 3 * e.PROVIDER_TIMEOUT_MS, {
    message:
      'must be at least 3 × PROVIDER_TIMEOUT_MS: a charge still in progress would be taken for one the provider never received',
    path: ['PAYMENT_RECOVERY_STALE_AFTER_SECONDS'],
    when: () => true,
  })
  // The config object: API_OPS_PORT → opsPort, MYSQL_URL → mysqlUrl... (runtime/core/config/env.ts).
  .transform((e) =>
    camelConfig({ ...e, REDIS_KEY_PREFIX: e.REDIS_KEY_PREFIX ?? e.TOPIC_PREFIX ?? 'payments' }, 'API_'),
  );

export type ApiConfig = z.infer<typeof apiEnvSchema>;

export function loadApiConfig(env: Env): ApiConfig {
  return parseEnv(apiEnvSchema, env);
}

/** Settings spelled the old way: still honoured, each with the warning main.ts logs at start. */
export function deprecatedSettings(env: Record<string, string | undefined>): string[] {
  const warnings: string[] = [];
  if (isLegacyTrustProxy(env.API_TRUST_PROXY)) {
    warnings.push(
      `API_TRUST_PROXY=${env.API_TRUST_PROXY} is deprecated: it now trusts only loopback and private ranges (${PRIVATE_PROXY_RANGES.join(', ')}); set the proxies' addresses or CIDR blocks instead`,
    );
  }
  if (env.API_PUBLIC_OPS_ROUTES !== undefined && boolFromEnv.safeParse(env.API_PUBLIC_OPS_ROUTES).data) {
    warnings.push(
      'API_PUBLIC_OPS_ROUTES is deprecated: /metrics and /readyz are served on API_OPS_PORT; scrape and probe that port instead',
    );
  }
  return warnings;
}
