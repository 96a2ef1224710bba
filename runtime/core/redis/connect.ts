import { readFileSync } from 'node:fs';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './client.ts';
import { LeanRedis, type LeanRedisOptions } from './lean.ts';
import { REDIS_MODES, type RedisConnection, type RedisMode, redisConnection } from './url.ts';

/** The part of a service's config that says how to reach Redis (see url.ts for the format). */
export type RedisConnectionConfig = {
  redisUrl: string;
  redisSentinelMaster?: string | undefined;
  redisMode?: RedisMode | undefined;
  /** PEM file of the CA that signed the server's certificate (rediss://); unset: the system trust store. */
  redisTlsCaFile?: string | undefined;
  /** The same CA as PEM text (a pod's env from a Secret). */
  redisTlsCaPem?: string | undefined;
  /** Sentinel mode: TLS to the Sentinels themselves too (same CA file); the master's follows `rediss://`. */
  redisSentinelTls?: boolean | undefined;
  /** Sentinel mode: the ACL user (and password) the Sentinels themselves require; the URL's are the master's. */
  redisSentinelUsername?: string | undefined;
  redisSentinelPassword?: string | undefined;
};

/** TLS options of a rediss:// connection: the server's certificate and host name are verified. */
function tlsOf(config: RedisConnectionConfig): RedisOptions['tls'] {
  if (config.redisTlsCaPem) return { ca: config.redisTlsCaPem };
  return config.redisTlsCaFile ? { ca: readFileSync(config.redisTlsCaFile, 'utf8') } : {};
}

export function connectionOf(config: RedisConnectionConfig): RedisConnection {
  return redisConnection(config.redisUrl, config.redisSentinelMaster, config.redisMode);
}

function authOf(c: RedisConnection): RedisOptions {
  return {
    ...(c.username !== undefined && { username: c.username }),
    ...(c.password !== undefined && { password: c.password }),
    ...(c.kind !== 'cluster' && c.db !== undefined && { db: c.db }),
  };
}

/**
 * ioredis options for one server: the server itself (standalone), or the master that the Sentinels
 * report, found again by ioredis after a failover (its native Sentinel support). For a cluster, the
 * options every node connection shares (credentials, TLS); the nodes come from `clusterNodes`.
 */
export function redisOptions(config: RedisConnectionConfig): RedisOptions {
  const c = connectionOf(config);
  const auth = authOf(c);
  if (c.kind === 'standalone')
    return { host: c.host, port: c.port, ...auth, ...(c.tls && { tls: tlsOf(config) }) };
  if (c.kind === 'cluster') return { ...auth, ...(c.tls && { tls: tlsOf(config) }) };
  return {
    sentinels: c.sentinels,
    name: c.master,
    ...auth,
    // ioredis applies `tls` to the master only with this flag; the Sentinels have their own settings.
    ...(c.tls && { tls: tlsOf(config), enableTLSForSentinelMode: true }),
    ...(config.redisSentinelTls && { sentinelTLS: tlsOf(config) }),
    ...(config.redisSentinelUsername && { sentinelUsername: config.redisSentinelUsername }),
    ...(config.redisSentinelPassword && { sentinelPassword: config.redisSentinelPassword }),
  };
}

/** The seed nodes of a cluster configuration, or null for a standalone or Sentinel one. */
export function clusterNodes(config: RedisConnectionConfig): { host: string; port: number }[] | null {
  const c = connectionOf(config);
  return c.kind === 'cluster' ? c.nodes : null;
}

/** Options that belong to the cluster client rather than to each node's connection. */
const CLUSTER_LEVEL = ['enableOfflineQueue', 'enableAutoPipelining', 'lazyConnect'] as const;

/**
 * A Redis Cluster client: it learns the slot map from the seeds, follows MOVED/ASK, refreshes the map
 * after a failover or a resharding, and reads from masters only (a replica may lag behind the writes a
 * consistency token waits for).
 */
export function createCluster(
  nodes: { host: string; port: number }[],
  nodeOptions: RedisOptions,
  options: RedisOptions = {},
): Cluster {
  const redisOptions: RedisOptions = { ...nodeOptions, ...options };
  const clusterOptions: ClusterOptions = {
    scaleReads: 'master',
    maxRedirections: 32,
    retryDelayOnTryAgain: 50,
  };
  for (const name of CLUSTER_LEVEL) {
    if (options[name] !== undefined) Object.assign(clusterOptions, { [name]: options[name] });
    delete redisOptions[name];
  }
  // A failing master answers nothing until its replica takes over (the node timeout): retry, do not fail.
  clusterOptions.retryDelayOnClusterDown = 100;
  clusterOptions.retryDelayOnFailover = 100;
  clusterOptions.redisOptions = redisOptions;
  return new Cluster(nodes, clusterOptions);
}

/** A client for the service's Redis; `options` (retries, pipelining, ...) go on top of the connection's. */
export function createRedis(config: RedisConnectionConfig, options: RedisOptions = {}): RedisClient {
  const nodes = clusterNodes(config);
  if (nodes) return createCluster(nodes, redisOptions(config), options);
  return new Redis({ ...redisOptions(config), ...options });
}

/** REDIS_URL, REDIS_SENTINEL_* and REDIS_MODE from an environment (tools, tests, benches). */
export function redisConfigOf(env: Record<string, string | undefined>): RedisConnectionConfig {
  const url = env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set');
  const mode = env.REDIS_MODE;
  if (mode !== undefined && mode !== '' && !(REDIS_MODES as readonly string[]).includes(mode))
    throw new Error(`REDIS_MODE must be one of ${REDIS_MODES.join(', ')}, got ${mode}`);
  return {
    redisUrl: url,
    ...(env.REDIS_SENTINEL_MASTER && { redisSentinelMaster: env.REDIS_SENTINEL_MASTER }),
    ...(mode && { redisMode: mode as RedisMode }),
    ...(env.REDIS_TLS_CA_FILE && { redisTlsCaFile: env.REDIS_TLS_CA_FILE }),
    ...(env.REDIS_TLS_CA_PEM && { redisTlsCaPem: env.REDIS_TLS_CA_PEM }),
    ...(['true', '1', 'yes'].includes(env.REDIS_SENTINEL_TLS ?? '') && { redisSentinelTls: true }),
    ...(env.REDIS_SENTINEL_USERNAME && { redisSentinelUsername: env.REDIS_SENTINEL_USERNAME }),
    ...(env.REDIS_SENTINEL_PASSWORD && { redisSentinelPassword: env.REDIS_SENTINEL_PASSWORD }),
  };
}

/**
 * The lean hot-path connection (lean.ts) for a standalone server, plain or TLS, with the URL's ACL
 * user and database; null for Sentinel and Cluster, whose failover and slot routing stay with ioredis.
 */
export function createLeanRedis(
  config: RedisConnectionConfig,
  options: Omit<LeanRedisOptions, 'host' | 'port' | 'tls' | 'username' | 'password' | 'db'> = {},
): LeanRedis | null {
  const c = connectionOf(config);
  if (c.kind !== 'standalone') return null;
  return new LeanRedis({
    ...options,
    host: c.host,
    port: c.port,
    ...(c.tls && { tls: tlsOf(config) as LeanRedisOptions['tls'] }),
    ...(c.username !== undefined && { username: c.username }),
    ...(c.password !== undefined && { password: c.password }),
    ...(c.db !== undefined && { db: c.db }),
  });
}
