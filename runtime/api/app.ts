import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { repairUser } from '../core/cache/repair.ts';
import type { PurchasePackageReader } from '../core/cache/types.ts';
import { CacheWriter } from '../core/cache/writer.ts';
import type { Pool } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';
import type { RedisClient } from '../core/redis/client.ts';
import type { Authenticator } from './auth.ts';
import { createTokenSigner } from './consistency-token.ts';
import { createApiMetrics } from './metrics.ts';
import { createPackageReader } from './package/read-package.ts';
import type { PaymentProvider } from './payments/provider.ts';
import { createPaymentService } from './payments/service.ts';
import { admission } from './plugins/admission.ts';
import { jsonBody } from './plugins/body.ts';
import { requestDeadlines } from './plugins/deadlines.ts';
import { errorMapping, errorServerOptions } from './plugins/errors.ts';
import { opsRoutes } from './plugins/ops.ts';
import { requestLog, requestLogServerOptions } from './plugins/request-log.ts';
import { responseHeaders } from './plugins/response-headers.ts';
import { closeOnShutdown } from './plugins/shutdown.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createReadinessProbe, type ReadinessProbe } from './readiness.ts';
import { adminHandlers } from './routes/admin.ts';
import { packageHandlers } from './routes/package.ts';
import { paymentHandlers } from './routes/payments.ts';
import { apiRoutes } from './routes/register.ts';
import { webhookHandlers } from './routes/webhooks.ts';
import { createSourcePosition } from './store/source-position.ts';

// Registration only: the cross-cutting behaviour is in plugins/ (one concern each, registered on the
// root in the order requests meet it), the routes in routes/table.ts with their handlers beside it.

export type AppDeps = {
  pool: Pool;
  redis: RedisClient;
  reader: PurchasePackageReader;
  provider: PaymentProvider;
  authenticate: Authenticator;
  logger: Logger;
  registry: Registry;
  settings: {
    redisKeyPrefix: string;
    bodyLimitBytes: number;
    idempotencyTtlHours: number;
    /** HMAC key of consistency tokens (CONSISTENCY_TOKEN_SECRET, or derived from the JWT secret). */
    consistencyTokenSecret: string;
    /** A charge not answered by then has an unknown outcome: the payment stays processing (recovery settles it). */
    providerTimeoutMs?: number;
    webhookSecret: string | undefined;
    webhookToleranceSeconds: number;
    rateLimitUserPerMinute: number;
    rateLimitIpPerMinute: number;
    /**
     * Trusted proxy addresses / CIDR blocks: the client address is the rightmost X-Forwarded-For hop
     * that is not one of them (none: the socket's peer). Never `true`: that would let the client's
     * own leftmost entry choose its rate-limit bucket.
     */
    trustProxy?: readonly string[];
    /**
     * Deprecated: also serve /metrics and /readyz on the public port (they live on the ops port,
     * main.ts). Off by default: they are unauthenticated and unlimited.
     */
    publicOpsRoutes?: boolean;
    /** A request not answered by then gets 503 (a hung dependency); above the provider timeout. */
    requestTimeoutMs?: number;
    /** The API reference page at /docs (API_DOCS_ENABLED; /openapi.json is served either way). */
    docsEnabled?: boolean;
  };
  /** True once shutdown began: /readyz turns 503 so load balancers stop sending traffic. */
  isStopping?: () => boolean;
  /** The readiness answer shared with the ops server (default: one built from pool and redis). */
  ready?: ReadinessProbe;
};

/** The Payment API as a fastify instance (not listening); main.ts and tests start it. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const metrics = createApiMetrics(deps.registry);
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance type the route modules take.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: settings.bodyLimitBytes,
    return503OnClosing: true,
    trustProxy: settings.trustProxy?.length ? [...settings.trustProxy] : false,
    routerOptions: { maxParamLength: 200 },
    ...requestLogServerOptions,
    ...errorServerOptions,
  });

  // onRequest hooks run in this order: headers first (refusals carry them), then the deadline, then
  // admission. Each register is awaited so the routes below meet every hook (and the 405 tracking).
  await app.register(responseHeaders);
  await app.register(requestDeadlines, { timeoutMs: settings.requestTimeoutMs ?? 0 });
  await app.register(admission, {
    authenticate: deps.authenticate,
    rateLimit: createRateLimiter(deps.redis, settings.redisKeyPrefix, {
      perUserPerMinute: settings.rateLimitUserPerMinute,
      perIpPerMinute: settings.rateLimitIpPerMinute,
    }),
    metrics,
  });
  await app.register(jsonBody);
  await app.register(closeOnShutdown);
  await app.register(requestLog, { logger: deps.logger, metrics });
  await app.register(errorMapping);

  const tokens = createTokenSigner(settings.consistencyTokenSecret);
  const source = createSourcePosition(deps.pool);
  const payments = createPaymentService({
    pool: deps.pool,
    provider: deps.provider,
    tokens,
    source,
    idempotencyTtlHours: settings.idempotencyTtlHours,
    ...(settings.providerTimeoutMs === undefined ? {} : { providerTimeoutMs: settings.providerTimeoutMs }),
  });
  const readPackage = createPackageReader({
    pool: deps.pool,
    reader: deps.reader,
    tokens,
    source,
    onSource: metrics.packageRead,
  });
  const cacheWriter = new CacheWriter(deps.redis, settings.redisKeyPrefix);
  await app.register(apiRoutes, {
    handlers: {
      ...paymentHandlers({ pool: deps.pool, payments }),
      ...packageHandlers({ readPackage }),
      ...adminHandlers({
        repairUser: (userId) =>
          repairUser({
            pool: deps.pool,
            redis: deps.redis,
            writer: cacheWriter,
            prefix: settings.redisKeyPrefix,
            userId,
          }),
      }),
      ...webhookHandlers({
        pool: deps.pool,
        provider: deps.provider.name,
        secret: settings.webhookSecret,
        toleranceSeconds: settings.webhookToleranceSeconds,
      }),
    },
  });
  await app.register(opsRoutes, {
    docsEnabled: settings.docsEnabled !== false,
    ...(settings.publicOpsRoutes
      ? {
          publicOps: {
            registry: deps.registry,
            ready:
              deps.ready ??
              createReadinessProbe({
                pool: deps.pool,
                redis: deps.redis,
                ...(deps.isStopping ? { isStopping: deps.isStopping } : {}),
              }),
          },
        }
      : {}),
  });
  return app;
}
