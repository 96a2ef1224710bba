import type { FastifyError, FastifyServerOptions } from 'fastify';
import { ApiError } from '../errors.ts';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  methodNotAllowed,
  toApiError,
  trackAllowedMethods,
} from '../framework-errors.ts';
import { SECURITY_HEADERS } from './response-headers.ts';
import { rootPlugin } from './root-plugin.ts';

// Every answer that is not a route's success in the API's one error shape (framework-errors.ts maps
// each kind): errors of hooks and handlers, unknown routes (404) and methods a known path does not
// take (405 with Allow), and, as server options, the router's and Node's HTTP parser's refusals.

/** fastify takes these at construction; they run before any hook, so they set the headers themselves. */
export const errorServerOptions = {
  frameworkErrors: frameworkErrorHandler(SECURITY_HEADERS),
  clientErrorHandler: clientErrorHandler(SECURITY_HEADERS),
} satisfies FastifyServerOptions;

/** Register before the routes: the 405 answer knows the methods of the routes added after it. */
export const errorMapping = rootPlugin('api-error-mapping', (app) => {
  const allowedMethods = trackAllowedMethods(app);

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
});
