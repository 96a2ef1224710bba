import { isClusterRedirect } from '../core/redis/client.ts';
import { ApiError } from './errors.ts';

// The one place that tells a dependency outage (MariaDB/MySQL or Redis unreachable, restarting,
// refusing connections, or a request that waited too long for it) from a bug. An outage answers 503
// with Retry-After, so clients and load balancers back off and retry; the connections recover by
// themselves (the pool reconnects per connection, ioredis reconnects in the background).

/** Seconds a client should wait before retrying during an outage. */
export const RETRY_AFTER_SECONDS = 2;

/** Socket-level failures, from Node's net/dns and from mysql2's own protocol layer. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  // The server is there but will not serve: too many connections, shutting down, connection killed.
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
]);

/** Errors without a code: mysql2's pool, ioredis' connection states. */
const MESSAGES = [
  /^Queue limit reached\.?$/, // mysql2 pool: every connection busy and the wait queue full
  /^Pool is closed\.?$/,
  /^Connection is closed\.?$/, // ioredis
  /^Stream isn't writeable/, // ioredis, offline queue off
  /^Reached the max retries per request limit/, // ioredis MaxRetriesPerRequestError
  /^Can't add new command when connection is in closed state/, // mysql2
  // A replica whose master is gone; the other restarting or failing-over answers (LOADING, READONLY,
  // CLUSTERDOWN, TRYAGAIN, MOVED, ASK) are core's isClusterRedirect, asked below.
  /^MASTERDOWN\b/,
];

const NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError', 'DependencyTimeoutError']);

/** True for an error (or one it wraps) that says a dependency is unreachable, not that the request is wrong. */
export function isDependencyOutage(err: unknown, depth = 0): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; fatal?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && NAMES.has(e.name)) return true;
  // mysql2 marks errors that broke the connection itself as fatal (its SQL errors never are).
  if (e.fatal === true) return true;
  if (typeof e.message === 'string' && MESSAGES.some((m) => m.test(e.message as string))) return true;
  // Redis restarting, failing over or moving slots, still so once the retries ran out.
  if (isClusterRedirect(err)) return true;
  if (err instanceof AggregateError && err.errors.some((x) => isDependencyOutage(x, depth + 1))) return true;
  return isDependencyOutage(e.cause, depth + 1);
}

/** The 503 for a dependency outage, or null for any other error. */
export function dependencyUnavailable(err: unknown): ApiError | null {
  if (!isDependencyOutage(err)) return null;
  return serviceUnavailable();
}

export function serviceUnavailable(message = 'a service this request needs is unavailable, retry later') {
  return new ApiError(503, 'api_error', 'service_unavailable', message, {
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
  });
}

/** A wait for a dependency that took too long (a hung server answers nothing at all). */
export class DependencyTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DependencyTimeoutError';
  }
}
