import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { type AppDeps, buildApp } from '../../runtime/api/app.ts';
import { createAuthenticator } from '../../runtime/api/auth.ts';
import type { InvalidationFeed } from '../../runtime/api/package/invalidation-feed.ts';
import { createNearCache } from '../../runtime/api/package/near-cache-setup.ts';
import { createSimulatedProvider, type PaymentProvider } from '../../runtime/api/payments/provider.ts';
import { WINDOW_MS } from '../../runtime/api/rate-limit.ts';
import { createReadinessProbe } from '../../runtime/api/readiness.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import type { PurchasePackageReader } from '../../runtime/core/cache/types.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { startOpsServer } from '../../runtime/core/metrics.ts';
import { createLeanRedis } from '../../runtime/core/redis/connect.ts';
import { requireEnv, uniqueSuffix } from './env.ts';
import { createTestDatabase, type TestDatabase } from './mysql.ts';
import { deleteRedisKeys } from './redis.ts';

export const TEST_WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';
export const TEST_CONSISTENCY_TOKEN_SECRET = 'consistency-token-test-secret-0123456789';

export type ApiHarness = {
  url: string;
  /** The ops server (/metrics, /readyz, /healthz), as main.ts serves it on API_OPS_PORT. */
  opsUrl: string;
  app: FastifyInstance;
  db: TestDatabase;
  /** The api's own pool (least-privilege app user). */
  pool: Pool;
  redis: Redis;
  prefix: string;
  registry: Registry;
  close: () => Promise<void>;
};

/**
 * The real api on an ephemeral port, against its own MariaDB database and Redis key prefix of the
 * test stack. Settings can be overridden per suite (e.g. tight rate limits).
 */
export async function startApi(
  overrides: Partial<AppDeps['settings']> = {},
  opts: {
    wrapReader?: (reader: PurchasePackageReader) => PurchasePackageReader;
    /** Another payment provider (default: the simulated one). */
    provider?: PaymentProvider;
    /** The near cache in front of the Redis reader, as main.ts wires it (feed up before it listens). */
    nearCache?: boolean;
    /** Another MariaDB server than the test stack's (a private one a suite stops and starts). */
    mysqlServer?: { adminUrl: string; appUrl: string; cdcUrl: string };
    /** Another Redis than the test stack's. */
    redisUrl?: string;
    /** What the app gets instead of its pool (e.g. one that counts queries); `pool` stays the real one. */
    wrapPool?: (pool: Pool) => Pool;
  } = {},
): Promise<ApiHarness> {
  const db = await createTestDatabase(opts.mysqlServer ? { server: opts.mysqlServer } : {});
  const pool = createPool(db.appUrl, { connectionLimit: 10 });
  const redisUrl = opts.redisUrl ?? requireEnv('REDIS_URL');
  // As main.ts connects: a command fails after two reconnection attempts instead of queueing forever.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', () => {}); // reconnects by itself; a suite that stops Redis expects these
  const prefix = `apitest_${uniqueSuffix()}`;
  const registry = new Registry();
  const logger = createLogger('api-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  // As main.ts reads pages: on the lean connection (a standalone Redis), the rest on ioredis.
  const lean = createLeanRedis({ redisUrl: redisUrl }, { commandTimeoutMs: 30_000 });
  let reader: PurchasePackageReader = new RedisPurchasePackageReader(redis, prefix, lean);
  let feed: InvalidationFeed | undefined;
  if (opts.nearCache) {
    const near = createNearCache({
      redis: { redisUrl },
      prefix,
      reader: new RedisPurchasePackageReader(redis, prefix, lean),
      settings: { maxBytes: 8 * 1024 ** 2, maxAgeMs: 30_000 },
      registry,
      log: logger,
    });
    await near.feed.start();
    reader = near.reader;
    feed = near.feed;
  }
  const appPool = opts.wrapPool?.(pool) ?? pool;
  // The limiter's windows are aligned to the clock: a suite's few requests against a limit of 3 that
  // straddled a minute boundary found a fresh window (200 where 429 was due). Its clock stays in the
  // middle of the window the api started in (rate-limit.test.ts covers the windows turning).
  const midWindow = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + WINDOW_MS / 2;
  const ready = createReadinessProbe({ pool: appPool, redis });
  const app = await buildApp({
    ready,
    rateLimitClock: () => midWindow,
    pool: appPool,
    redis,
    reader: (opts.wrapReader ?? ((r) => r))(reader),
    provider: opts.provider ?? createSimulatedProvider(),
    authenticate: createAuthenticator({ kind: 'hs256', secret: requireEnv('AUTH_JWT_SECRET') }),
    logger,
    registry,
    settings: {
      redisKeyPrefix: prefix,
      bodyLimitBytes: 16_384,
      idempotencyTtlHours: 24,
      consistencyTokenSecret: TEST_CONSISTENCY_TOKEN_SECRET,
      webhookSecret: TEST_WEBHOOK_SECRET,
      webhookToleranceSeconds: 300,
      rateLimitUserPerMinute: 100_000,
      rateLimitIpPerMinute: 100_000,
      ...overrides,
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const ops = await startOpsServer({ registry, port: 0, host: '127.0.0.1', ready });
  return {
    url: `http://127.0.0.1:${port}`,
    opsUrl: `http://127.0.0.1:${(ops.address() as AddressInfo).port}`,
    app,
    db,
    pool,
    redis,
    prefix,
    registry,
    close: async () => {
      await app.close();
      await new Promise<void>((resolve) => ops.close(() => resolve()));
      await feed?.stop();
      await pool.end();
      await deleteRedisKeys(redis, prefix);
      await lean?.quit();
      await redis.quit();
      await db.drop();
    },
  };
}

/** Counts the Redis keys under a prefix. */
export async function countKeys(redis: Redis, prefix: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    n += keys.length;
    cursor = next;
  } while (cursor !== '0');
  return n;
}

/** A tiny JSON client: status, headers, parsed body and the raw text. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}
