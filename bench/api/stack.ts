import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { readStackEnv } from '../../dev/stack-env.ts';
import { createAuthenticator } from '../../runtime/api/auth.ts';
import { createTokenSigner, deriveTokenSecret } from '../../runtime/api/consistency-token.ts';
import { createPackageReader } from '../../runtime/api/package/read-package.ts';
import { createSimulatedProvider } from '../../runtime/api/payments/provider.ts';
import { createPaymentService } from '../../runtime/api/payments/service.ts';
import { createSourcePosition } from '../../runtime/api/store/source-position.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import type { PurchasePackageReader } from '../../runtime/core/cache/types.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { createPool } from '../../runtime/core/db/pool.ts';
import { createLeanRedis, createRedis, redisConfigOf } from '../../runtime/core/redis/connect.ts';

/** Loads the test stack's connection settings (written by `STACK_NAME=test dev/stack.sh up`). */
export function loadStackEnv(file = process.env.STACK_ENV_FILE ?? '.local/test-stack.env'): void {
  if (!existsSync(file)) throw new Error(`${file} not found: run STACK_NAME=test dev/stack.sh up first`);
  for (const [key, value] of Object.entries(readStackEnv(file))) process.env[key] ??= value;
}

export function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/**
 * Seeds each user's purchases through the real write path into `MYSQL_URL`'s database and
 * materialises Redis with the consumer's rebuild, so every server reads the same data.
 */
export async function seedBenchData(opts: {
  userIds: string[];
  purchases: number;
  /** The first user's purchases, when they differ (one big page beside many small ones). */
  firstPurchases?: number;
  prefix: string;
}): Promise<void> {
  const pool = createPool(need('MYSQL_URL'), { connectionLimit: 4 });
  const redis = new Redis(need('REDIS_URL'));
  try {
    const payments = createPaymentService({
      pool,
      provider: createSimulatedProvider(),
      tokens: createTokenSigner(deriveTokenSecret(need('AUTH_JWT_SECRET'))),
      source: createSourcePosition(pool),
      idempotencyTtlHours: 24,
    });
    const packages = ['pkg_starter', 'pkg_plus', 'pkg_pro', 'pkg_yen'];
    // A few users at a time: the pool has 4 connections.
    for (let i = 0; i < opts.userIds.length; i += 4)
      await Promise.all(opts.userIds.slice(i, i + 4).map(seedUser));
    await rebuildCache({
      pool,
      redis,
      writer: new CacheWriter(redis, opts.prefix),
      prefix: opts.prefix,
      progress: silentProgress,
    });

    async function seedUser(userId: string) {
      const count = userId === opts.userIds[0] ? (opts.firstPurchases ?? opts.purchases) : opts.purchases;
      for (let i = 0; i < count; i++) {
        const w = {
          principal: { userId, scopes: new Set<string>() },
          idempotencyKey: `bench-${userId}-${i}`,
          method: 'POST',
          path: '/v1/purchases',
        };
        const created = await payments.createPurchase(w, {
          package_id: packages[i % packages.length] ?? 'pkg_plus',
        });
        const paymentId = (JSON.parse(created.body) as { payment: { id: string } }).payment.id;
        if (i % 3 !== 0) {
          await payments.confirmPayment(
            { ...w, idempotencyKey: `bench-c-${userId}-${i}`, path: `/v1/payments/${paymentId}/confirm` },
            paymentId,
            {},
          );
        }
      }
    }
  } finally {
    await pool.end();
    await redis.quit();
  }
}

/** The pieces of the purchase-package route, framework-neutral, for the framework comparison. */
export function packageRouteParts(source: 'redis' | 'mysql') {
  const pool = createPool(need('MYSQL_URL'), { connectionLimit: 20 });
  // As the api connects (rediss:// with REDIS_TLS_CA_FILE, Sentinel, cluster): runtime/core/redis.
  const redis = createRedis(redisConfigOf(process.env), { enableAutoPipelining: true });
  // The page call on the lean connection as main.ts wires it; BENCH_REDIS_CLIENT=ioredis keeps ioredis.
  const lean =
    process.env.BENCH_REDIS_CLIENT === 'ioredis'
      ? null
      : createLeanRedis(redisConfigOf(process.env), { commandTimeoutMs: 30_000 });
  const miss: PurchasePackageReader = { read: async () => ({ kind: 'miss' }), peek: () => undefined };
  const reader =
    source === 'redis' ? new RedisPurchasePackageReader(redis, need('REDIS_KEY_PREFIX'), lean) : miss;
  return {
    pool,
    redis,
    reader,
    authenticate: createAuthenticator({ kind: 'hs256', secret: need('AUTH_JWT_SECRET') }),
    readPackage: createPackageReader({
      pool,
      reader,
      tokens: createTokenSigner(deriveTokenSecret(need('AUTH_JWT_SECRET'))),
      source: createSourcePosition(pool),
    }),
  };
}

export type BenchData = {
  userId: string;
  /** Every seeded user (the first is `userId`). */
  userIds: string[];
  token: string;
  path: string;
  /** Env for the target processes. */
  env: Record<string, string>;
};

/** Own database and Redis prefix on the test stack, seeded; removed again when `fn` finishes. */
export async function withBenchData<T>(
  purchases: number,
  fn: (data: BenchData) => Promise<T>,
  users = 1,
  firstPurchases?: number,
): Promise<T> {
  loadStackEnv();
  const { createTestDatabase } = await import('../../test/support/mysql.ts');
  const { uniqueSuffix } = await import('../../test/support/env.ts');
  const { mintToken } = await import('../../test/support/jwt.ts');
  const db = await createTestDatabase();
  const prefix = `apibench_${uniqueSuffix()}`;
  const run = uniqueSuffix();
  const userIds = Array.from({ length: users }, (_, i) => `bench_${run}_${i}`);
  const userId = userIds[0] ?? '';
  process.env.MYSQL_URL = db.appUrl;
  process.env.REDIS_KEY_PREFIX = prefix;
  try {
    await seedBenchData({
      userIds,
      purchases,
      prefix,
      ...(firstPurchases === undefined ? {} : { firstPurchases }),
    });
    return await fn({
      userId,
      userIds,
      token: await mintToken(userId, { expiresIn: '1h' }),
      path: `/v1/users/${userId}/purchases`,
      env: {
        MYSQL_URL: db.appUrl,
        REDIS_URL: need('REDIS_URL'),
        REDIS_KEY_PREFIX: prefix,
        AUTH_JWT_SECRET: need('AUTH_JWT_SECRET'),
      },
    });
  } finally {
    const redis = new Redis(need('REDIS_URL'));
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
    await db.drop();
  }
}

/** Body size of the real route's answer, so the bare route returns a constant of the same size. */
export async function responseBytes(url: string, token: string): Promise<number> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`route answered ${res.status}: ${await res.text()}`);
  return Buffer.byteLength(await res.text());
}
