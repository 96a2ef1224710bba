import { RedisPurchasePackageReader } from '../core/cache/reader.ts';
import { loadConfig } from '../core/config/env.ts';
import { createPool } from '../core/db/pool.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createRegistry, startOpsServer } from '../core/metrics.ts';
import { createLeanRedis, createRedis } from '../core/redis/connect.ts';
import { buildApp } from './app.ts';
import { createAuthenticator } from './auth.ts';
import { deprecatedSettings, isDevelopment, loadApiConfig } from './config.ts';
import { deriveTokenSecret } from './consistency-token.ts';
import { createMaintenance } from './maintenance.ts';
import { createMaintenanceMetrics, createRecoveryMetrics } from './metrics.ts';
import { createNearCache } from './package/near-cache-setup.ts';
import { createPaymentRecovery } from './payments/recovery.ts';
import { createProvider } from './payments/select.ts';
import { createReadinessProbe } from './readiness.ts';

// Wiring only: configuration, connections, the app, and the order things stop in.
const config = loadConfig('api', loadApiConfig);
const log = createLogger('api', config.logLevel);
for (const warning of deprecatedSettings(process.env)) log.warn(warning);
const lifecycle = new Lifecycle(log, config.shutdownTimeoutMs);
lifecycle.installSignalHandlers();

const pool = createPool(config.mysqlUrl, { connectionLimit: config.mysqlPoolSize });
const redis = createRedis(config, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
// ioredis reconnects by itself; without a listener its errors would go to stderr unstructured.
redis.on('error', (err: unknown) => log.warn({ err }, 'redis connection error'));
// The package read's own lean connection on a standalone server (null for Sentinel / Cluster: ioredis).
const leanRedis = createLeanRedis(config, {
  connectionName: 'api-package-reads',
  commandTimeoutMs: config.requestTimeoutMs,
  onError: (err) => log.warn({ err }, 'redis (package reads) connection error'),
});
const redisReader = new RedisPurchasePackageReader(redis, config.redisKeyPrefix, leanRedis);
const registry = createRegistry('api');
const nearCache =
  config.packageNearCacheBytes > 0
    ? createNearCache({
        redis: config,
        prefix: config.redisKeyPrefix,
        reader: redisReader,
        settings: {
          maxBytes: config.packageNearCacheBytes,
          maxAgeMs: config.packageNearCacheMaxAgeMs,
        },
        registry,
        log,
      })
    : null;
const provider = createProvider(config);
if (config.paymentProvider === 'simulated' && !isDevelopment(config.nodeEnv)) {
  log.warn('ALLOW_SIMULATED_PROVIDER=true: payments are simulated, no money moves');
}
const auth = { issuer: config.authJwtIssuer, audience: config.authJwtAudience };
const authenticate = createAuthenticator(
  config.authJwksUrl
    ? { kind: 'jwks', url: config.authJwksUrl, ...auth }
    : { kind: 'hs256', secret: config.authJwtSecret ?? '', ...auth },
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
    redisKeyPrefix: config.redisKeyPrefix,
    bodyLimitBytes: config.bodyLimitBytes,
    idempotencyTtlHours: config.idempotencyTtlHours,
    // The config refuses to start without either (and without the first outside development).
    consistencyTokenSecret: config.consistencyTokenSecret ?? deriveTokenSecret(config.authJwtSecret ?? ''),
    providerTimeoutMs: config.providerTimeoutMs,
    webhookSecret: config.webhookSecret,
    webhookToleranceSeconds: config.webhookToleranceSeconds,
    rateLimitUserPerMinute: config.rateLimitUserPerMinute,
    rateLimitIpPerMinute: config.rateLimitIpPerMinute,
    trustProxy: config.trustProxy,
    publicOpsRoutes: config.publicOpsRoutes,
    requestTimeoutMs: config.requestTimeoutMs,
    docsEnabled: config.docsEnabled,
  },
  isStopping: () => lifecycle.isStopping,
  ready,
});

// Probes answer from the start; ready only once the public port listens and the dependencies answer.
const ops = await startOpsServer({
  registry,
  port: config.opsPort,
  host: config.opsHost,
  ready: async () => app.server.listening && (await ready()),
});

const maintenance = createMaintenance({
  pool,
  webhookRetentionDays: config.webhookEventRetentionDays,
  log,
  onPurged: createMaintenanceMetrics(registry),
});
maintenance.start(10 * 60_000);
const recovery = createPaymentRecovery({
  pool,
  provider,
  staleAfterSeconds: config.paymentRecoveryStaleAfterSeconds,
  log,
  onRecovered: createRecoveryMetrics(registry),
});
if (config.paymentRecoveryIntervalMs > 0) recovery.start(config.paymentRecoveryIntervalMs);

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
await app.listen({ port: config.port, host: config.host });
log.info(
  {
    port: config.port,
    host: config.host,
    opsPort: config.opsPort,
    opsHost: config.opsHost,
    redisPrefix: config.redisKeyPrefix,
  },
  'api listening',
);
