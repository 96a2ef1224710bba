import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { redisConnection } from './url.ts';

/** The part of a service's config that says how to reach Redis (see url.ts for the format). */
export type RedisConnectionConfig = {
  REDIS_URL: string;
  REDIS_SENTINEL_MASTER?: string | undefined;
  /** PEM file of the CA that signed the server's certificate (rediss://); unset: the system trust store. */
  REDIS_TLS_CA_FILE?: string | undefined;
};

/** TLS options of a rediss:// connection: the server's certificate and host name are verified. */
function tlsOf(config: RedisConnectionConfig): RedisOptions['tls'] {
  return config.REDIS_TLS_CA_FILE ? { ca: readFileSync(config.REDIS_TLS_CA_FILE, 'utf8') } : {};
}

/**
 * ioredis options for the service's Redis: the server itself (standalone), or the master that the
 * Sentinels report, found again by ioredis after a failover (its native Sentinel support).
 */
export function redisOptions(config: RedisConnectionConfig): RedisOptions {
  const c = redisConnection(config.REDIS_URL, config.REDIS_SENTINEL_MASTER);
  const auth: RedisOptions = {
    ...(c.username !== undefined && { username: c.username }),
    ...(c.password !== undefined && { password: c.password }),
    ...(c.db !== undefined && { db: c.db }),
  };
  if (c.kind === 'standalone')
    return { host: c.host, port: c.port, ...auth, ...(c.tls && { tls: tlsOf(config) }) };
  return {
    sentinels: c.sentinels,
    name: c.master,
    ...auth,
    // ioredis applies `tls` to the master only with this flag; the Sentinels are asked in plain text.
    ...(c.tls && { tls: tlsOf(config), enableTLSForSentinelMode: true }),
  };
}

/** A client for the service's Redis; `options` (retries, pipelining, ...) go on top of the connection's. */
export function createRedis(config: RedisConnectionConfig, options: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptions(config), ...options });
}
