/**
 * REDIS_URL (with REDIS_SENTINEL_MASTER and REDIS_MODE) as one connection description, without
 * ioredis, so the env schemas can validate with it too.
 *
 * Format: `redis[s]://[[user]:password@]host[:port][,host[:port]...][/db]`
 * - standalone (no REDIS_SENTINEL_MASTER): exactly one host, the Redis server; port 6379 by default.
 * - Sentinel (REDIS_SENTINEL_MASTER names the master group): the hosts are the Sentinels, each with
 *   its port. The credentials, the db and `rediss` (TLS) apply to the master the Sentinels report;
 *   the Sentinels themselves are asked without credentials and without TLS unless REDIS_SENTINEL_TLS,
 *   REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD say otherwise (connect.ts).
 * - cluster (REDIS_MODE=cluster): the hosts are seed nodes of a Redis Cluster (any of them; the client
 *   discovers the rest), each with its port; no database number (a cluster has only db 0).
 * REDIS_MODE (standalone | sentinel | cluster) may be left out: Sentinel when REDIS_SENTINEL_MASTER is
 * set, else standalone.
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
  | (Auth & { kind: 'sentinel'; master: string; sentinels: { host: string; port: number }[] })
  | (Auth & { kind: 'cluster'; nodes: { host: string; port: number }[] });

export const REDIS_MODES = ['standalone', 'sentinel', 'cluster'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

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

/** REDIS_URL with REDIS_SENTINEL_MASTER and REDIS_MODE; throws RedisUrlError saying what to change. */
export function redisConnection(
  url: string,
  sentinelMaster: string | undefined,
  mode?: RedisMode | undefined,
): RedisConnection {
  const { hosts, username, password, db, tls } = parseRedisUrl(url);
  const auth: Auth = {
    tls,
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    ...(db !== undefined && { db }),
  };
  if (mode === 'cluster') {
    if (sentinelMaster !== undefined)
      throw new RedisUrlError(
        'REDIS_MODE=cluster takes seed nodes, not Sentinels: unset REDIS_SENTINEL_MASTER',
      );
    if (db !== undefined && db !== 0)
      throw new RedisUrlError(`a Redis Cluster has only database 0, got /${db}`);
    const nodes = hosts.map(({ host, port }) => {
      if (port === undefined) throw new RedisUrlError(`cluster node "${host}" needs its port (host:port)`);
      return { host, port };
    });
    const { db: _db, ...clusterAuth } = auth;
    return { kind: 'cluster', ...clusterAuth, nodes };
  }
  if (mode === 'sentinel' && sentinelMaster === undefined)
    throw new RedisUrlError('REDIS_MODE=sentinel needs REDIS_SENTINEL_MASTER (the master group name)');
  if (mode === 'standalone' && sentinelMaster !== undefined)
    throw new RedisUrlError(
      'REDIS_MODE=standalone with REDIS_SENTINEL_MASTER: set REDIS_MODE=sentinel or unset it',
    );
  if (sentinelMaster === undefined) {
    const [only] = hosts;
    if (!only || hosts.length > 1)
      throw new RedisUrlError(
        'names several hosts: set REDIS_SENTINEL_MASTER to reach them as Sentinels, REDIS_MODE=cluster for cluster seed nodes, or give the one Redis server',
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
