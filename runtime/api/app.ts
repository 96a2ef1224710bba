import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AppDeps } from './deps.ts';
import { createApiMetrics } from './metrics.ts';
import { admission } from './plugins/admission.ts';
import { jsonBody } from './plugins/body.ts';
import { requestDeadlines } from './plugins/deadlines.ts';
import { errorMapping, errorServerOptions } from './plugins/errors.ts';
import { opsRoutes } from './plugins/ops.ts';
import { requestLog, requestLogServerOptions } from './plugins/request-log.ts';
import { responseHeaders } from './plugins/response-headers.ts';
import { closeOnShutdown } from './plugins/shutdown.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createReadinessProbe } from './readiness.ts';
import { apiHandlers } from './routes/handlers.ts';
import { apiRoutes } from './routes/register.ts';

// Registration only: the cross-cutting behaviour is in plugins/ (one concern each, registered on the
// root in the order requests meet it), the routes in routes/table.ts with their handlers beside it.

export type { AppDeps } from './deps.ts';

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
    rateLimit: createRateLimiter(
      deps.redis,
      settings.redisKeyPrefix,
      { perUserPerMinute: settings.rateLimitUserPerMinute, perIpPerMinute: settings.rateLimitIpPerMinute },
      deps.rateLimitClock ? { now: deps.rateLimitClock } : {},
    ),
    metrics,
  });
  await app.register(jsonBody);
  await app.register(closeOnShutdown);
  await app.register(requestLog, { logger: deps.logger, metrics });
  await app.register(errorMapping);

  await app.register(apiRoutes, { handlers: apiHandlers(deps, metrics) });
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
