import { RedisPurchasePackageReader } from '../core/cache/reader.ts';
import { ConfigError } from '../core/config/env.ts';
import { createPool } from '../core/db/pool.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createRegistry, startOpsServer } from '../core/metrics.ts';
import { createLeanRedis, createRedis } from '../core/redis/connect.ts';
import { buildApp } from './app.ts';
import { createAuthenticator } from './auth.ts';
import { type ApiConfig, deprecatedSettings, isDevelopment, loadApiConfig } from './config.ts';
import { deriveTokenSecret } from './consistency-token.ts';
import { createMaintenance } from './maintenance.ts';
import { createMaintenanceMetrics, createRecoveryMetrics } from './metrics.ts';
import { createNearCache } from './package/near-cache-setup.ts';
import { createPaymentRecovery } from './payments/recovery.ts';
import { createProvider } from './payments/select.ts';
import { createReadinessProbe } from './readiness.ts';

// Wiring only: configuration, connections, the app, and the order things stop in.
let config: ApiConfig;
try {
  config = loadApiConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const log = createLogger('api', config.LOG_LEVEL);
for (const warning of deprecatedSettings(process.env)) log.warn(warning);
const lifecycle = new Lifecycle(log, config.SHUTDOWN_TIMEOUT_MS);
lifecycle.installSignalHandlers();

const pool = createPool(config.MYSQL_URL, { connectionLimit: config.MYSQL_POOL_SIZE });
const redis = createRedis(config, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
// ioredis reconnects by itself; without a listener its errors would go to stderr unstructured.
redis.on('error', (err: unknown) => log.warn({ err }, 'redis connection error'));
// The package read's own lean connection on a standalone server (null for Sentinel / Cluster: ioredis).
const leanRedis = createLeanRedis(config, {
  connectionName: 'api-package-reads',
  commandTimeoutMs: config.API_REQUEST_TIMEOUT_MS,
  onError: (err) => log.warn({ err }, 'redis (package reads) connection error'),
});
const redisReader = new RedisPurchasePackageReader(redis, config.REDIS_KEY_PREFIX, leanRedis);
const registry = createRegistry('api');
const nearCache =
  config.PACKAGE_NEAR_CACHE_BYTES > 0
    ? createNearCache({
        redis: config,
        prefix: config.REDIS_KEY_PREFIX,
        reader: redisReader,
        settings: {
          maxBytes: config.PACKAGE_NEAR_CACHE_BYTES,
          maxAgeMs: config.PACKAGE_NEAR_CACHE_MAX_AGE_MS,
        },
        registry,
        log,
      })
    : null;
const provider = createProvider(config);
if (config.PAYMENT_PROVIDER === 'simulated' && !isDevelopment(config.NODE_ENV)) {
  log.warn('ALLOW_SIMULATED_PROVIDER=true: payments are simulated, no money moves');
}
const auth = { issuer: config.AUTH_JWT_ISSUER, audience: config.AUTH_JWT_AUDIENCE };
const authenticate = createAuthenticator(
  config.AUTH_JWKS_URL
    ? { kind: 'jwks', url: config.AUTH_JWKS_URL, ...auth }
    : { kind: 'hs256', secret: config.AUTH_JWT_SECRET ?? '', ...auth },
);

const ready = createReadinessProbe({ pool, redis, isStopping: () => lifecycle.isStopping });

const app = await buildApp({
  pool,
  redis,
  reader: nearCache?.reader ?? redisReader,
  provider,
  authenticate,
  logger: log,
  registry,
  settings: {
    redisKeyPrefix: config.REDIS_KEY_PREFIX,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    idempotencyTtlHours: config.IDEMPOTENCY_TTL_HOURS,
    // The config refuses to start without either (and without the first outside development).
    consistencyTokenSecret:
      config.CONSISTENCY_TOKEN_SECRET ?? deriveTokenSecret(config.AUTH_JWT_SECRET ?? ''),
    providerTimeoutMs: config.PROVIDER_TIMEOUT_MS,
    webhookSecret: config.WEBHOOK_SECRET,
    webhookToleranceSeconds: config.WEBHOOK_TOLERANCE_SECONDS,
    rateLimitUserPerMinute: config.RATE_LIMIT_USER_PER_MINUTE,
    rateLimitIpPerMinute: config.RATE_LIMIT_IP_PER_MINUTE,
    trustProxy: config.API_TRUST_PROXY,
    publicOpsRoutes: config.API_PUBLIC_OPS_ROUTES,
    requestTimeoutMs: config.API_REQUEST_TIMEOUT_MS,
    docsEnabled: config.API_DOCS_ENABLED,
  },
  isStopping: () => lifecycle.isStopping,
  ready,
});

// Probes answer from the start; ready only once the public port listens and the dependencies answer.
const ops = await startOpsServer({
  registry,
  port: config.API_OPS_PORT,
  host: config.API_OPS_HOST,
  ready: async () => app.server.listening && (await ready()),
});

const maintenance = createMaintenance({
  pool,
  webhookRetentionDays: config.WEBHOOK_EVENT_RETENTION_DAYS,
  log,
  onPurged: createMaintenanceMetrics(registry),
});
maintenance.start(10 * 60_000);
const recovery = createPaymentRecovery({
  pool,
  provider,
  staleAfterSeconds: config.PAYMENT_RECOVERY_STALE_AFTER_SECONDS,
  log,
  onRecovered: createRecoveryMetrics(registry),
});
if (config.PAYMENT_RECOVERY_INTERVAL_MS > 0) recovery.start(config.PAYMENT_RECOVERY_INTERVAL_MS);

// Stop intake and finish in-flight requests first, then close the connections they used.
lifecycle.onShutdown('http', () => app.close());
lifecycle.onShutdown('maintenance', () => maintenance.stop());
lifecycle.onShutdown('payment recovery', () => recovery.stop());
lifecycle.onShutdown('mysql', () => pool.end());
if (nearCache) lifecycle.onShutdown('invalidation feed', () => nearCache.feed.stop());
lifecycle.onShutdown('redis', async () => {
  await leanRedis?.quit();
  await redis.quit();
});
// Last: probes keep getting their 503 while everything above drains.
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));

nearCache?.feed
  .start()
  .catch((err: unknown) =>
    log.warn({ err }, 'invalidation feed not up yet: package reads go to Redis until it is'),
  );
await redisReader
  .load()
  .catch((err: unknown) => log.warn({ err }, 'Redis not reachable yet: reader script loads on first use'));
await app.listen({ port: config.API_PORT, host: config.API_HOST });
log.info(
  {
    port: config.API_PORT,
    host: config.API_HOST,
    opsPort: config.API_OPS_PORT,
    opsHost: config.API_OPS_HOST,
    redisPrefix: config.REDIS_KEY_PREFIX,
  },
  'api listening',
);
