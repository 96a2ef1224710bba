import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Registry } from 'prom-client';
import { repairUser } from '../core/cache/repair.ts';
import type { PurchasePackageReader } from '../core/cache/types.ts';
import { CacheWriter } from '../core/cache/writer.ts';
import type { Pool } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';
import type { RedisClient } from '../core/redis/client.ts';
import type { Authenticator, Principal } from './auth.ts';
import { createTokenSigner } from './consistency-token.ts';
import { docsRoutes } from './docs-page.ts';
import { ApiError } from './errors.ts';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  methodNotAllowed,
  toApiError,
  trackAllowedMethods,
} from './framework-errors.ts';
import { ADMITTED, decorateRequests, setAdmission, setPrincipal, setRawBody } from './http.ts';
import { createApiMetrics } from './metrics.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { createPackageReader } from './package/read-package.ts';
import type { PaymentProvider } from './payments/provider.ts';
import { createPaymentService } from './payments/service.ts';
import { createRateLimiter, type RateDecision, type RateLimiter } from './rate-limit.ts';
import { createReadinessProbe, type ReadinessProbe } from './readiness.ts';
import { lazyRequestLogger } from './request-logger.ts';
import { adminRoutes } from './routes/admin.ts';
import { packageRoutes } from './routes/package.ts';
import { paymentRoutes } from './routes/payments.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { createSourcePosition } from './store/source-position.ts';
import { serviceUnavailable } from './unavailable.ts';

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

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes with `auth: true` need a valid bearer token; every /v1 route is rate limited. */
    auth?: boolean;
    /**
     * The handler awaits the rate limit itself (`admission` in http.ts) when the limiter must lease
     * tokens from Redis: its Redis read then goes out in the same tick, so both ride one
     * auto-pipelined round trip. A synchronous admission is the already-settled `ADMITTED`.
     */
    admitInHandler?: boolean;
  }
}

type HookDone = (err?: Error) => void;

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'cache-control': 'no-store',
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
    // Request lines are logged by our onResponse hook (with route and status); fastify's are off.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 200 },
    childLoggerFactory: lazyRequestLogger,
    // Router and parser refusals in the API's error shape (fastify's and Node's own are not).
    frameworkErrors: frameworkErrorHandler(SECURITY_HEADERS),
    clientErrorHandler: clientErrorHandler(SECURITY_HEADERS),
  });

  decorateRequests(app);
  const allowedMethods = trackAllowedMethods(app);

  // JSON is the only body the API reads: fastify's text/plain parser goes, so any other media type
  // gets 415. JSON is parsed here (not by fastify) to keep the raw bytes for webhook signatures and
  // to answer malformed JSON in the API's error shape.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    setRawBody(req, text);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(
        new ApiError(400, 'invalid_request_error', 'invalid_json', 'the request body is not valid JSON'),
        undefined,
      );
    }
  });

  const rateLimit = createRateLimiter(deps.redis, settings.redisKeyPrefix, {
    perUserPerMinute: settings.rateLimitUserPerMinute,
    perIpPerMinute: settings.rateLimitIpPerMinute,
  });

  const deadlines = requestDeadlines(app, settings.requestTimeoutMs ?? 0);

  // Callback-style and synchronous in the common case (a token verified before, a limiter deciding
  // from its local buckets): no promise and no microtask turn per request.
  app.addHook('onRequest', (req, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', req.id);
    const config = req.routeOptions.config;
    if (config.auth === undefined) return done(); // ops and docs routes
    deadlines?.add(reply);
    if (!config.auth) return admit(req, null, done);
    let principal: Principal | Promise<Principal>;
    try {
      principal = deps.authenticate(req.headers.authorization);
    } catch (err) {
      return refuseUnauthenticated(req, err, done);
    }
    if (!(principal instanceof Promise)) return admit(req, principal, done);
    principal.then(
      (p) => admit(req, p, done),
      (err: unknown) => refuseUnauthenticated(req, err, done),
    );
  });

  function admit(req: FastifyRequest, principal: Principal | null, done: HookDone) {
    if (principal) setPrincipal(req, principal);
    let check: Promise<void> | undefined;
    try {
      // A refusal decided synchronously throws here: the handler (and its MySQL fallback) never runs.
      check = enforceRateLimit(req, principal?.userId ?? null);
    } catch (err) {
      return done(err as Error);
    }
    if (req.routeOptions.config.admitInHandler) {
      if (check === undefined) {
        setAdmission(req, ADMITTED);
      } else {
        // The handler always awaits it; this only keeps a refusal from counting as unhandled meanwhile.
        check.catch(() => {});
        setAdmission(req, check);
      }
      return done();
    }
    if (check === undefined) return done();
    check.then(
      () => done(),
      (err: unknown) => done(err as Error),
    );
  }

  /** Failed authentications still count against the address: token guessing is rate limited. */
  function refuseUnauthenticated(req: FastifyRequest, authError: unknown, done: HookDone) {
    let check: Promise<void> | undefined;
    try {
      check = enforceRateLimit(req, null);
    } catch (err) {
      return done(err as Error);
    }
    if (check === undefined) return done(authError as Error);
    check.then(
      () => done(authError as Error),
      (err: unknown) => done(err as Error),
    );
  }

  /**
   * Throws the 429 (or returns a promise rejecting with it). Synchronous when the limiter decides from
   * its local token buckets, which is the common case: no promise, no microtask turn.
   */
  function enforceRateLimit(req: FastifyRequest, userId: string | null): Promise<void> | undefined {
    let decision: ReturnType<RateLimiter>;
    try {
      decision = rateLimit(userId, req.ip);
    } catch (err) {
      limiterFailed(req, err);
      return undefined;
    }
    if (decision instanceof Promise) {
      return decision.then(
        (d) => refuseIfDenied(d),
        (err: unknown) => limiterFailed(req, err),
      );
    }
    refuseIfDenied(decision);
    return undefined;
  }

  function limiterFailed(req: FastifyRequest, err: unknown): void {
    // A limiter outage must not take the API down with it.
    metrics.rateLimiterError();
    req.log.warn({ err }, 'rate limiter unavailable: request let through');
  }

  function refuseIfDenied(decision: RateDecision): void {
    if (decision.allowed) return;
    metrics.rateLimited(decision.scope);
    throw new ApiError(
      429,
      'rate_limit_error',
      `rate_limited_${decision.scope}`,
      'too many requests, slow down',
      {
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
      },
    );
  }

  // Responses finishing after close() began tell the client to hang up, so keep-alive connections of
  // in-flight requests end with them instead of holding the shutdown until the keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // The per-request hooks below are callback-style: an async hook costs a promise and a microtask
  // turn per request for work that never waits.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  // Request lines at debug (errors always); the line is only built when it will be written.
  const debugEnabled = deps.logger.isLevelEnabled('debug');
  app.addHook('onResponse', (req, reply, done) => {
    deadlines?.delete(reply);
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500 || debugEnabled) {
      const line = {
        method: req.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      };
      if (reply.statusCode >= 500) req.log.error(line, 'request failed');
      else req.log.debug(line, 'request done');
    }
    done();
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const apiError = toApiError(err);
    if (apiError.code === 'service_unavailable' && !(err instanceof ApiError)) {
      req.log.warn({ err }, 'dependency unavailable: answered 503');
    } else if (apiError.status >= 500 && !(err instanceof ApiError)) {
      req.log.error({ err }, 'unhandled error');
    }
    return reply.code(apiError.status).headers(apiError.headers).send(apiError.toBody());
  });

  app.setNotFoundHandler((req, reply) => {
    const allowed = allowedMethods(req.url);
    const error =
      allowed.length > 0
        ? methodNotAllowed(allowed)
        : new ApiError(404, 'not_found', 'route_not_found', 'no such route');
    return reply.code(error.status).headers(error.headers).send(error.toBody());
  });

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

  paymentRoutes(app, { pool: deps.pool, payments });
  packageRoutes(app, { readPackage });
  const cacheWriter = new CacheWriter(deps.redis, settings.redisKeyPrefix);
  adminRoutes(app, {
    repairUser: (userId) =>
      repairUser({
        pool: deps.pool,
        redis: deps.redis,
        writer: cacheWriter,
        prefix: settings.redisKeyPrefix,
        userId,
      }),
  });
  webhookRoutes(app, {
    pool: deps.pool,
    provider: deps.provider.name,
    secret: settings.webhookSecret,
    toleranceSeconds: settings.webhookToleranceSeconds,
  });
  opsRoutes(app, deps);
  return app;
}

/**
 * Public routes that are not the API itself: /healthz (no dependency, for load balancers), the API
 * reference (rendered once, rate-limited per address like every /v1 route). /metrics and /readyz are
 * on the ops port (main.ts), here only with the deprecated `publicOpsRoutes`.
 */
function opsRoutes(app: FastifyInstance, deps: AppDeps): void {
  const openapi = JSON.stringify(buildOpenApiDocument());
  const limited = { config: { auth: false as const } };
  app.get('/openapi.json', limited, (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(openapi),
  );
  if (deps.settings.docsEnabled !== false) docsRoutes(app, limited);
  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  if (!deps.settings.publicOpsRoutes) return;
  const ready =
    deps.ready ??
    createReadinessProbe({
      pool: deps.pool,
      redis: deps.redis,
      ...(deps.isStopping ? { isStopping: deps.isStopping } : {}),
    });
  app.get('/readyz', async (_req, reply) => {
    const ok = await ready();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready' });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(deps.registry.contentType).send(await deps.registry.metrics()),
  );
}

/**
 * A request not answered in time gets its 503, whatever it waits for (a hung MySQL holds its pool
 * connections and new ones queue). One sweep per quarter of the timeout instead of a timer per
 * request (a timer costs several times a Set entry on the hot path); the Set iterates in arrival
 * order, so a sweep stops at the first request still within its time. fastify's own handlerTimeout
 * is not used: it is cancelled once a request body has been read, so it never covers a POST.
 */
function requestDeadlines(app: FastifyInstance, timeoutMs: number): Set<FastifyReply> | null {
  if (timeoutMs <= 0) return null;
  const inFlight = new Set<FastifyReply>();
  const sweep = setInterval(
    () => {
      for (const reply of inFlight) {
        if (reply.elapsedTime < timeoutMs) break;
        inFlight.delete(reply);
        if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) continue;
        reply.send(
          serviceUnavailable('the request did not complete in time, retry with the same Idempotency-Key'),
        );
      }
    },
    Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4))),
  );
  sweep.unref();
  app.addHook('onClose', (_app, done) => {
    clearInterval(sweep);
    done();
  });
  return inFlight;
}
