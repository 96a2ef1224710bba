import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import { ApiError } from './errors.ts';
import { dependencyUnavailable } from './unavailable.ts';

// Everything fastify or Node's HTTP parser would answer in their own shapes, answered in the API's:
// errors thrown by hooks and handlers, router refusals (bad URL, over-long path parameter), parser
// refusals on the raw socket (malformed request, request line or headers too large), and methods a
// known path does not take (405 with Allow).

/** Any error a route, hook or content-type parser threw, as the API's error. */
export function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  const unavailable = dependencyUnavailable(err);
  if (unavailable) return unavailable;
  const code = (err as FastifyError).code;
  const statusCode = (err as FastifyError).statusCode;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'invalid_request_error', 'body_too_large', 'the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'invalid_request_error', 'unsupported_media_type', 'send application/json');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(414, 'invalid_request_error', 'uri_too_long', 'a path parameter is too long');
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, 'invalid_request_error', 'bad_request', 'the URL is not valid');
    default:
      if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
        return new ApiError(statusCode, 'invalid_request_error', 'bad_request', err.message);
      }
      return new ApiError(500, 'api_error', 'internal_error', 'something went wrong on our side');
  }
}

/** fastify's `frameworkErrors`: the router's refusals, before any hook ran (so headers are set here). */
export function frameworkErrorHandler(
  headers: Record<string, string>,
): NonNullable<FastifyServerOptions['frameworkErrors']> {
  return (err, _req, generic) => {
    const apiError = toApiError(err);
    const reply = generic as unknown as FastifyReply;
    reply.code(apiError.status).headers(headers).headers(apiError.headers).send(apiError.toBody());
  };
}

/**
 * fastify's `clientErrorHandler`: the parser refused the bytes, so there is no request and no reply;
 * the answer is written on the socket, which then closes (as Node does). An overflow before the first
 * line break of the chunk the parser stopped in is the URI being too long; otherwise the headers.
 */
export function clientErrorHandler(
  headers: Record<string, string>,
): NonNullable<FastifyServerOptions['clientErrorHandler']> {
  return (err, socket: Socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let error: ApiError;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      // Typed as Buffer's JSON form, it is the Buffer the parser was given.
      const packet = err.rawPacket as unknown as Buffer | undefined;
      const lineEnd = Buffer.isBuffer(packet) ? packet.indexOf('\r\n') : 0;
      const inRequestLine = lineEnd < 0 || lineEnd >= err.bytesParsed;
      error = inRequestLine
        ? new ApiError(414, 'invalid_request_error', 'uri_too_long', 'the request URI is too long')
        : new ApiError(
            431,
            'invalid_request_error',
            'headers_too_large',
            'the request headers are too large',
          );
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      error = new ApiError(
        408,
        'invalid_request_error',
        'request_timeout',
        'the request took too long to arrive',
      );
    } else {
      error = new ApiError(400, 'invalid_request_error', 'bad_request', 'the request is not valid HTTP/1.1');
    }
    // A response already started on this connection (pipelining) cannot be followed by another.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(error.toBody());
      const lines = [
        `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
        'content-type: application/json; charset=utf-8',
        `content-length: ${Buffer.byteLength(body)}`,
        'connection: close',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  };
}

/**
 * The methods each route path takes, collected as routes are added: a request for a known path with
 * another method gets 405 and `Allow` instead of 404. Call before the routes are registered.
 */
export function trackAllowedMethods(app: FastifyInstance): (url: string) => string[] {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const source = `^${route.url
      .split('/')
      .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}$`;
    let entry = routes.find((r) => r.pattern.source === source);
    if (!entry) {
      entry = { pattern: new RegExp(source), methods: new Set() };
      routes.push(entry);
    }
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(m);
  });
  return (url) => {
    const path = url.split('?', 1)[0] ?? '';
    const methods = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
    return [...methods].sort(methodOrder);
  };
}

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const methodOrder = (a: string, b: string) => ORDER.indexOf(a) - ORDER.indexOf(b);

export function methodNotAllowed(allowed: string[]): ApiError {
  return new ApiError(
    405,
    'invalid_request_error',
    'method_not_allowed',
    `this path takes ${allowed.join(', ')}`,
    { headers: { allow: allowed.join(', ') } },
  );
}
