import type { FastifyRequest } from 'fastify';
import { type Authenticator, isAdmin, type Principal } from '../auth.ts';
import { ApiError } from '../errors.ts';
import type { ApiMetrics } from '../metrics.ts';
import type { RateDecision, RateLimiter } from '../rate-limit.ts';
import { rootPlugin } from './root-plugin.ts';

// Admission: who is calling (auth.ts verifies the bearer token) and whether they may call now
// (rate-limit.ts decides from local token buckets or leases from Redis), in one onRequest hook.
// Callback-style and synchronous in the common case (a token verified before, a limiter deciding
// from its local buckets): no promise and no microtask turn per request.

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Set on every API route (the route table's `auth`): true needs a valid bearer token, false is
     * public; both are rate limited. Routes without it (health, ops) are not admitted at all.
     */
    auth?: boolean;
    /** The token must carry this scope (403 otherwise), checked once the limiter let the request in. */
    scope?: 'admin';
    /**
     * The handler awaits the rate limit itself (`admissionOf`) when the limiter must lease tokens from
     * Redis: its Redis read then goes out in the same tick, so both ride one auto-pipelined round
     * trip. A synchronous admission is the already-settled `ADMITTED`.
     */
    admitInHandler?: boolean;
  }
  interface FastifyRequest {
    apiPrincipal: Principal | null;
    apiAdmission: Promise<void> | null;
  }
}

export type AdmissionOptions = {
  authenticate: Authenticator;
  rateLimit: RateLimiter;
  metrics: Pick<ApiMetrics, 'rateLimited' | 'rateLimiterError'>;
};

type HookDone = (err?: Error) => void;

/** The admission of a request the limiter let through synchronously (its local buckets had tokens). */
export const ADMITTED: Promise<void> = Promise.resolve();

export const admission = rootPlugin<AdmissionOptions>('api-admission', (app, opts) => {
  const { authenticate, rateLimit, metrics } = opts;
  app.decorateRequest('apiPrincipal', null);
  app.decorateRequest('apiAdmission', null);

  app.addHook('onRequest', (req, _reply, done) => {
    const config = req.routeOptions.config;
    if (config.auth === undefined) return done(); // ops and health routes
    if (!config.auth) return admit(req, null, done);
    let principal: Principal | Promise<Principal>;
    try {
      principal = authenticate(req.headers.authorization);
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
    if (principal) req.apiPrincipal = principal;
    let check: Promise<void> | undefined;
    try {
      // A refusal decided synchronously throws here: the handler (and its MySQL fallback) never runs.
      check = enforceRateLimit(req, principal?.userId ?? null);
    } catch (err) {
      return done(err as Error);
    }
    const config = req.routeOptions.config;
    if (config.admitInHandler) {
      if (check === undefined) {
        req.apiAdmission = ADMITTED;
      } else {
        // The handler always awaits it; this only keeps a refusal from counting as unhandled meanwhile.
        check.catch(() => {});
        req.apiAdmission = check;
      }
      return done();
    }
    if (check === undefined) return done(scopeRefusal(req, principal));
    check.then(
      () => done(scopeRefusal(req, principal)),
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
      { headers: { 'retry-after': String(decision.retryAfterSeconds) } },
    );
  }
});

function scopeRefusal(req: FastifyRequest, principal: Principal | null): ApiError | undefined {
  if (req.routeOptions.config.scope !== 'admin' || (principal && isAdmin(principal))) return undefined;
  return adminScopeRequired();
}

export const adminScopeRequired = () =>
  new ApiError(403, 'permission_error', 'admin_scope_required', 'this operation needs the admin scope');

/** The authenticated caller; routes with `auth: true` always have one. */
export function principalOf(req: FastifyRequest): Principal {
  const p = req.apiPrincipal;
  if (!p) throw new ApiError(500, 'api_error', 'internal_error', 'route has no principal');
  return p;
}

/** The request's pending rate-limit check (routes with `admitInHandler`); rejects with the 429. */
export function admissionOf(req: FastifyRequest): Promise<void> {
  const check = req.apiAdmission;
  if (!check) throw new ApiError(500, 'api_error', 'internal_error', 'route has no rate-limit check');
  return check;
}
