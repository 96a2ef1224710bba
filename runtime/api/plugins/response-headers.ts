import { rootPlugin } from './root-plugin.ts';

/** On every answer, including the router's and the parser's refusals (errors.ts passes them on). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'cache-control': 'no-store',
});

/**
 * Security headers and the request id on every response, set first so that admission's refusals
 * carry them too. Callback-style: an async hook costs a promise and a microtask turn per request.
 */
export const responseHeaders = rootPlugin('api-response-headers', (app) => {
  app.addHook('onRequest', (req, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', req.id);
    done();
  });
});
