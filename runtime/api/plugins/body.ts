import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { rootPlugin } from './root-plugin.ts';

// JSON is the only body the API reads: fastify's text/plain parser goes, so any other media type
// gets 415. JSON is parsed here (not by fastify) to keep the raw bytes for webhook signatures and
// to answer malformed JSON in the API's error shape. The size limit is the server's `bodyLimit`.

declare module 'fastify' {
  interface FastifyRequest {
    apiRawBody: string | null;
  }
}

export const jsonBody = rootPlugin('api-json-body', (app) => {
  // A property on fastify's request object costs far less per request than a WeakMap entry.
  app.decorateRequest('apiRawBody', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    req.apiRawBody = text;
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
});

/** The exact bytes received (webhook signatures cover them); '' without a body. */
export function rawBodyOf(req: FastifyRequest): string {
  return req.apiRawBody ?? '';
}
