/**
 * REDIS_URL (and REDIS_SENTINEL_MASTER) as one connection description, without ioredis, so the env
 * schemas can validate with it too.
 *
 * Format: `redis[s]://[[user]:password@]host[:port][,host[:port]...][/db]`
 * - standalone (no REDIS_SENTINEL_MASTER): exactly one host, the Redis server; port 6379 by default.
 * - Sentinel (REDIS_SENTINEL_MASTER names the master group): the hosts are the Sentinels, each with
 *   its port. The credentials, the db and `rediss` (TLS) apply to the master the Sentinels report;
 *   the Sentinels themselves are asked without credentials and without TLS.
 * User and password are percent-encoded (as in any URL); query strings are not accepted.
 */

export type RedisEndpoint = { host: string; port: number | undefined };

export type ParsedRedisUrl = {
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  db: number | undefined;
  hosts: RedisEndpoint[];
};

type Auth = { tls: boolean; username?: string; password?: string; db?: number };

export type RedisConnection =
  | (Auth & { kind: 'standalone'; host: string; port: number })
  | (Auth & { kind: 'sentinel'; master: string; sentinels: { host: string; port: number }[] });

export class RedisUrlError extends Error {
  override name = 'RedisUrlError';
}

export const REDIS_URL_FORMAT = 'redis[s]://[[user]:password@]host[:port][,host[:port]...][/db]';
const DEFAULT_PORT = 6379;

const URL_SHAPE = /^(rediss?):\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?$/;
// A DNS name or IPv4 address, or an IPv6 address in brackets; then an optional port.
const ENDPOINT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RedisUrlError(`the ${what} is not valid percent-encoding`);
  }
}

function parseEndpoint(text: string): RedisEndpoint {
  const m = ENDPOINT.exec(text);
  if (!m?.[1]) throw new RedisUrlError(`"${text}" is not host[:port]`);
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535))
    throw new RedisUrlError(`port ${port} of "${text}" is out of range`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** Syntax only; whether one host or several make sense depends on REDIS_SENTINEL_MASTER (redisConnection). */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  if (!/^rediss?:\/\//.test(url)) throw new RedisUrlError('must be a redis:// or rediss:// URL');
  const m = URL_SHAPE.exec(url);
  if (!m) throw new RedisUrlError(`must be ${REDIS_URL_FORMAT} (no query string or fragment)`);
  const [, scheme, userinfo, hostList = '', path] = m;
  if (hostList === '') throw new RedisUrlError(`names no host: must be ${REDIS_URL_FORMAT}`);
  const hosts = hostList.split(',').map(parseEndpoint);
  if (path !== undefined && path !== '' && !/^\d{1,5}$/.test(path))
    throw new RedisUrlError(`the path must be the database number, got "/${path}"`);
  const colon = userinfo?.indexOf(':') ?? -1;
  const user = userinfo === undefined ? undefined : colon < 0 ? userinfo : userinfo.slice(0, colon);
  const password = userinfo === undefined || colon < 0 ? undefined : userinfo.slice(colon + 1);
  return {
    tls: scheme === 'rediss',
    username: user ? decode(user, 'user name') : undefined,
    password: password ? decode(password, 'password') : undefined,
    db: path ? Number(path) : undefined,
    hosts,
  };
}

/** REDIS_URL with REDIS_SENTINEL_MASTER; throws RedisUrlError saying what to change. */
export function redisConnection(url: string, sentinelMaster: string | undefined): RedisConnection {
  const { hosts, username, password, db, tls } = parseRedisUrl(url);
  const auth: Auth = {
    tls,
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    ...(db !== undefined && { db }),
  };
  if (sentinelMaster === undefined) {
    const [only] = hosts;
    if (!only || hosts.length > 1)
      throw new RedisUrlError(
        'names several hosts: set REDIS_SENTINEL_MASTER to reach them as Sentinels, or give the one Redis server',
      );
    return { kind: 'standalone', ...auth, host: only.host, port: only.port ?? DEFAULT_PORT };
  }
  const sentinels = hosts.map(({ host, port }) => {
    if (port === undefined)
      throw new RedisUrlError(`Sentinel "${host}" needs its port (host:port, usually 26379)`);
    return { host, port };
  });
  return { kind: 'sentinel', ...auth, master: sentinelMaster, sentinels };
}
