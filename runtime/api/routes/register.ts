import type { FastifyPluginCallback, preHandlerHookHandler } from 'fastify';
import { checkIdempotencyKey } from '../http.ts';
import { type RouteHandlers, type RouteName, type RouteSpec, routeTable } from './table.ts';

/**
 * The route table as fastify routes. Admission reads `auth`, `scope` and `admitInHandler` from the
 * route config (plugins/admission.ts); a route that takes an Idempotency-Key checks it in its
 * preHandler, after the body was read and before the handler, which reads it with `idempotencyKeyOf`.
 */
export const apiRoutes: FastifyPluginCallback<{ handlers: RouteHandlers }> = (app, opts, done) => {
  app.decorateRequest('apiIdempotencyKey', null);
  for (const name of Object.keys(routeTable) as RouteName[]) {
    const spec: RouteSpec = routeTable[name];
    app.route({
      method: spec.method,
      url: spec.url,
      config: {
        auth: spec.auth !== 'none',
        ...(spec.auth === 'admin' ? { scope: 'admin' as const } : {}),
        ...(spec.admitInHandler ? { admitInHandler: true } : {}),
      },
      ...(spec.idempotencyKey ? { preHandler: idempotencyKeyCheck } : {}),
      handler: opts.handlers[name],
    });
  }
  done();
};

const idempotencyKeyCheck: preHandlerHookHandler = (req, _reply, done) => {
  try {
    req.apiIdempotencyKey = checkIdempotencyKey(req);
  } catch (err) {
    return done(err as Error);
  }
  done();
};
