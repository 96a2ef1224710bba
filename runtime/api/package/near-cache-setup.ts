import { Counter, Gauge, type Registry } from 'prom-client';
import type { PurchasePackageReader } from '../../core/cache/types.ts';
import type { Logger } from '../../core/logger.ts';
import { clusterNodes, type RedisConnectionConfig, redisOptions } from '../../core/redis/connect.ts';
import {
  ClusterInvalidationFeed,
  type InvalidationFeed,
  RedisInvalidationFeed,
} from './invalidation-feed.ts';
import { NearCachedPackageReader } from './near-cache.ts';

export type NearCacheSettings = { maxBytes: number; maxAgeMs: number };

/**
 * The near cache in front of the Redis reader, its invalidation feed and its metrics. The feed
 * connects in the background: until it is up every read goes to Redis.
 */
export function createNearCache(deps: {
  /**
   * How to reach Redis (runtime/core/redis/connect.ts); the feed adds its own settings. A cluster gets
   * a feed on every master.
   */
  redis: RedisConnectionConfig;
  prefix: string;
  reader: PurchasePackageReader;
  settings: NearCacheSettings;
  registry: Registry;
  log: Logger;
}): { reader: NearCachedPackageReader; feed: InvalidationFeed } {
  const lookups = new Counter({
    name: 'api_package_near_cache_lookups_total',
    help: 'Purchase package near-cache lookups: hit (answered from memory), miss (read from Redis and kept), bypass (token or feed down: Redis)',
    labelNames: ['result'] as const,
    registers: [deps.registry],
  });
  const invalidations = new Counter({
    name: 'api_package_near_cache_invalidations_total',
    help: 'Near-cache invalidations: user (one user changed in Redis), all (catalog, flush, feed up/down)',
    labelNames: ['kind'] as const,
    registers: [deps.registry],
  });
  // Bound children: a labelled inc per request would hash the labels each time.
  const byResult = {
    hit: lookups.labels('hit'),
    miss: lookups.labels('miss'),
    bypass: lookups.labels('bypass'),
  };
  const byKind = { user: invalidations.labels('user'), all: invalidations.labels('all') };
  let feed: InvalidationFeed | undefined;
  const reader = new NearCachedPackageReader(deps.reader, () => feed?.healthy ?? false, deps.prefix, {
    ...deps.settings,
    onLookup: (result) => byResult[result].inc(),
    onInvalidate: (kind) => byKind[kind].inc(),
  });
  const feedOptions = { prefixes: NearCachedPackageReader.watchedPrefixes(deps.prefix), log: deps.log };
  const nodes = clusterNodes(deps.redis);
  feed = nodes
    ? new ClusterInvalidationFeed(nodes, redisOptions(deps.redis), reader, feedOptions)
    : new RedisInvalidationFeed(redisOptions(deps.redis), reader, feedOptions);
  const live = feed;
  const gauges: Array<[name: string, help: string, read: () => number]> = [
    [
      'api_package_near_cache_bytes',
      'Bytes held by the purchase package near cache (bodies plus bookkeeping)',
      () => reader.bytes,
    ],
    [
      'api_package_near_cache_users',
      'Users with at least one page in the near cache',
      () => reader.userCount,
    ],
    [
      'api_package_near_cache_feed_up',
      '1 while Redis invalidations arrive (the near cache serves), 0 while every read goes to Redis',
      () => (live.healthy ? 1 : 0),
    ],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [deps.registry],
      collect() {
        this.set(read());
      },
    });
  }
  return { reader, feed };
}
