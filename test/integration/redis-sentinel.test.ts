import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InvalidationListener,
  RedisInvalidationFeed,
} from '../../runtime/api/package/invalidation-feed.ts';
import { NearCachedPackageReader } from '../../runtime/api/package/near-cache.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { createRedis, redisOptions } from '../../runtime/core/redis/connect.ts';
import { parseRedisUrl } from '../../runtime/core/redis/url.ts';
import { at, payment, pkg, purchase, upsert, v } from '../support/cache-rows.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.ts';
import { spawnService } from '../support/service-process.ts';
import { freePort, waitFor } from '../support/wait.ts';

/*
 * Sentinel for real: the suite starts its own `redis-server --sentinel` (a temp dir, a free port)
 * monitoring the test stack's Redis under a master name of its own, and the services' clients reach
 * that Redis only by asking it. Nothing of the stack's Redis is reconfigured; the Sentinel is
 * stopped by its pid afterwards.
 */
const stackUrl = requireEnv('REDIS_URL');
const stack = parseRedisUrl(stackUrl);
const master = `payments-it-${uniqueSuffix()}`;
const prefix = `sentinel:${uniqueSuffix()}`;
const direct = new Redis(stackUrl);

let sentinel: RedisProcess | undefined;
let sentinelPort = 0;
let config: { redisUrl: string; redisSentinelMaster: string };
const clients: Redis[] = [];

async function startSentinel(): Promise<void> {
  const [server] = stack.hosts;
  if (!server) throw new Error('REDIS_URL names no host');
  // A long down-after keeps this Sentinel from ever judging the shared Redis down (it has no replica
  // to fail over to anyway).
  sentinel = await startRedisProcess({
    sentinel: true,
    config: [
      `sentinel monitor ${master} ${server.host} ${server.port ?? 6379} 1`,
      `sentinel down-after-milliseconds ${master} 600000`,
      ...(stack.password ? [`sentinel auth-pass ${master} ${stack.password}`] : []),
      ...(stack.username ? [`sentinel auth-user ${master} ${stack.username}`] : []),
    ],
  });
  sentinelPort = sentinel.port;
  const probe = sentinel.probe;
  await waitFor('Sentinel knows the master', async () => {
    const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', master)) as string[] | null;
    return addr?.[1] === String(server.port ?? 6379);
  });
  // The stack's URL with the Sentinel in place of the server: same db and credentials, for the master.
  const auth = stack.password
    ? `${encodeURIComponent(stack.username ?? '')}:${encodeURIComponent(stack.password)}@`
    : '';
  const scheme = stack.tls ? 'rediss' : 'redis';
  config = {
    redisUrl: `${scheme}://${auth}127.0.0.1:${sentinelPort}${stack.db === undefined ? '' : `/${stack.db}`}`,
    redisSentinelMaster: master,
  };
}

function client(options = {}): Redis {
  // Sentinel mode: always one server's client.
  const c = createRedis(config, { maxRetriesPerRequest: 2, ...options }) as Redis;
  clients.push(c);
  return c;
}

beforeAll(startSentinel, 15_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await deleteRedisKeys(direct, prefix);
  direct.disconnect();
  await sentinel?.stop();
});

describe('Redis through a real Sentinel', () => {
  it('a client built for Sentinel reads and writes the master the Sentinel reports', async () => {
    expect(redisOptions(config)).toMatchObject({
      name: master,
      sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
    });
    const redis = client();
    // REDIS_URL names only the Sentinel, which refuses SET: the write can only have reached the master.
    await redis.set(`${prefix}:probe`, 'via-sentinel');
    expect(await direct.get(`${prefix}:probe`)).toBe('via-sentinel');
    await direct.set(`${prefix}:probe`, 'from-master');
    expect(await redis.get(`${prefix}:probe`)).toBe('from-master');
    const role = (await redis.call('ROLE')) as [string, ...unknown[]];
    expect(role[0]).toBe('master');
  });

  it('the consumer’s CacheWriter and the api’s reader work through it', async () => {
    const writer = new CacheWriter(client(), prefix);
    const reader = new RedisPurchasePackageReader(client({ enableAutoPipelining: true }), prefix);
    await writer.load();
    await reader.load();
    await writer.apply([
      upsert('packages', pkg('pkg_a', 'Alpha'), v(1)),
      upsert('purchases', purchase('pur_s1', 'u_sentinel', at(1)), v(2)),
      upsert('payments', payment('pay_s1', 'pur_s1', 'u_sentinel', 'pending'), v(3)),
    ]);
    await writer.markReady(null);
    const page = await reader.read('u_sentinel', { limit: 20, cursor: null, token: null });
    expect(page.kind).toBe('hit');
    expect(page.kind === 'hit' && page.body.toString()).toContain('"id":"pay_s1","status":"pending"');
    // Written to the stack's Redis, where the Sentinel said the master is.
    expect(await direct.exists(cacheKeys(prefix).userPurchases('u_sentinel'))).toBe(1);
  });

  it('the api’s invalidation feed comes up through it and reports a change', async () => {
    const changed: string[] = [];
    const listener: InvalidationListener = {
      keys: (keys) => changed.push(...keys.map(String)),
      flush: () => {},
    };
    const feed = new RedisInvalidationFeed(redisOptions(config), listener, {
      prefixes: NearCachedPackageReader.watchedPrefixes(prefix),
      heartbeatMs: 500,
    });
    try {
      await feed.start(5000);
      expect(feed.healthy).toBe(true);
      // The feed's connection is on the master the Sentinel reported.
      const list = await direct.client('LIST');
      expect(String(list)).toContain(`id=${feed.clientId} `);
      const writer = new CacheWriter(client(), prefix);
      await writer.load();
      await writer.apply([upsert('payments', payment('pay_s1', 'pur_s1', 'u_sentinel', 'succeeded'), v(4))]);
      const key = cacheKeys(prefix).userEntries('u_sentinel');
      await waitFor('invalidation reported', async () => changed.includes(key), 2000);
    } finally {
      await feed.stop();
    }
  });

  it('the invalidation feed refuses to come up on a Sentinel given as a plain Redis URL', async () => {
    const listener: InvalidationListener = { keys: () => {}, flush: () => {} };
    const feed = new RedisInvalidationFeed({ host: '127.0.0.1', port: sentinelPort }, listener, {
      prefixes: NearCachedPackageReader.watchedPrefixes(prefix),
    });
    try {
      await expect(feed.start(1500)).rejects.toThrow(/did not come up/);
      expect(feed.healthy).toBe(false);
    } finally {
      await feed.stop();
    }
  });

  it('node runtime/api/main.ts given REDIS_SENTINEL_MASTER serves pages from the master and sees changes', async () => {
    const [port, opsPort] = [await freePort(), await freePort()];
    const {
      child: api,
      output,
      exited,
    } = spawnService('api', {
      REDIS_URL: config.redisUrl,
      REDIS_SENTINEL_MASTER: config.redisSentinelMaster,
      MYSQL_URL: requireEnv('MYSQL_URL'),
      AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
      REDIS_KEY_PREFIX: prefix,
      API_PORT: String(port),
      API_OPS_PORT: String(opsPort),
      LOG_LEVEL: 'warn',
    });
    try {
      await waitFor(
        'api ready and its feed up',
        async () => {
          if (api.exitCode !== null) throw new Error(`api exited (${api.exitCode}): ${output()}`);
          const ready = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
          const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
          return ready.status === 200 && /^api_package_near_cache_feed_up(\{[^}]*\})? 1$/m.test(metrics);
        },
        10_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; api output: ${output()}`);
      });
      // Its reader's scripts ran on the master (the Sentinel itself has no EVALSHA)...
      const token = await mintToken('u_sentinel');
      const page = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/users/u_sentinel/purchases`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { source: res.headers.get('x-package-source'), body: await res.text() };
      };
      expect(await page()).toMatchObject({
        source: 'redis',
        body: expect.stringContaining('"status":"succeeded"'),
      });
      await page(); // now held in its near cache
      // ...and its feed hears the master: a held page is dropped the moment it changes there.
      const writer = new CacheWriter(client(), prefix);
      await writer.load();
      await writer.apply([upsert('payments', payment('pay_s1', 'pur_s1', 'u_sentinel', 'refunded'), v(5))]);
      await waitFor(
        'the change reaches the api',
        async () => (await page()).body.includes('"status":"refunded"'),
        2000,
      );
    } finally {
      api.kill('SIGTERM');
      await exited;
    }
  });
});
