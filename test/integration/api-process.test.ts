import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, countKeys } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { spawnService } from '../support/service-process.ts';

// The api as `make up` runs it: `node runtime/api/main.ts` with the stack's env.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const startMain = (env: Record<string, string>) => spawnService('api', env);

async function waitReady(url: string, exited: Promise<number | null>): Promise<void> {
  const deadline = Date.now() + 20_000;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (Date.now() < deadline && !gone) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('api did not become ready');
}

describe('runtime/api/main.ts', () => {
  it('refuses to start on invalid configuration and names every problem', async () => {
    const { exited, output } = startMain({ MYSQL_URL: 'postgres://nope', API_PORT: '0' });
    expect(await exited).not.toBe(0);
    for (const name of ['MYSQL_URL', 'REDIS_URL', 'API_PORT', 'AUTH_JWT_SECRET'])
      expect(output()).toContain(name);
  });

  it('refuses to charge through the simulated provider in production unless explicitly allowed', async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const env = {
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      REDIS_KEY_PREFIX: `apiprod_${uniqueSuffix()}`,
      AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
      CONSISTENCY_TOKEN_SECRET: 'consistency-token-secret-of-production',
      API_PORT: String(port),
      NODE_ENV: 'production',
    };
    const refused = startMain(env);
    // An api that starts anyway is killed after a while (and fails the expectation below).
    const timer = setTimeout(() => refused.child.kill('SIGKILL'), 15_000);
    const code = await refused.exited;
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(refused.output()).toMatch(
      /PAYMENT_PROVIDER: the simulated provider takes no money: only NODE_ENV=development or test runs it unless ALLOW_SIMULATED_PROVIDER=true/,
    );

    const allowed = startMain({ ...env, ALLOW_SIMULATED_PROVIDER: 'true' });
    try {
      await waitReady(`http://127.0.0.1:${port}`, allowed.exited);
      expect(allowed.output()).toContain('payments are simulated, no money moves');
    } finally {
      allowed.child.kill('SIGTERM');
      await allowed.exited;
    }
  });

  it('serves a purchase and the package, then stops cleanly on SIGTERM', async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const url = `http://127.0.0.1:${port}`;
    const prefix = `apiproc_${uniqueSuffix()}`;
    const proc = startMain({
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      REDIS_KEY_PREFIX: prefix,
      AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
      API_PORT: String(port),
      LOG_LEVEL: 'info',
    });
    try {
      await waitReady(url, proc.exited);
      const user = `proc_${uniqueSuffix()}`;
      const token = await mintToken(user);
      const bought = await call(url, 'POST', '/v1/purchases', {
        token,
        body: { package_id: 'pkg_yen' },
        headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
      });
      expect(bought.status).toBe(201);
      const list = await call(url, 'GET', `/v1/users/${user}/purchases`, { token });
      expect(list.body).toMatchObject({
        items: [{ package: { id: 'pkg_yen' }, amount: 1500, currency: 'JPY' }],
      });

      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      const log = proc.output();
      expect(log).toContain('"msg":"api listening"');
      expect(log).toContain('"hook":"http","msg":"shutdown step done"');
      expect(log).toContain('"hook":"mysql","msg":"shutdown step done"');
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
    // The MySQL fallback answered; nothing was written to Redis under the api's prefix.
    const redis = new Redis(requireEnv('REDIS_URL'));
    try {
      expect(await countKeys(redis, `${prefix}:row`)).toBe(0);
    } finally {
      await redis.quit();
    }
  });
});

describe('readiness', () => {
  it('is 503 while Redis does not answer, 200 when both MySQL and Redis do', async () => {
    const { buildApp } = await import('../../runtime/api/app.ts');
    const { createAuthenticator } = await import('../../runtime/api/auth.ts');
    const { createSimulatedProvider } = await import('../../runtime/api/payments/provider.ts');
    const { RedisPurchasePackageReader } = await import('../../runtime/core/cache/reader.ts');
    const { createPool } = await import('../../runtime/core/db/pool.ts');
    const { createLogger } = await import('../../runtime/core/logger.ts');
    const { Registry } = await import('prom-client');
    const pool = createPool(db.appUrl, { connectionLimit: 2 });
    // Nothing listens on port 1: every Redis command fails fast.
    const deadRedis = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    deadRedis.on('error', () => undefined);
    const liveRedis = new Redis(requireEnv('REDIS_URL'));
    const make = (redis: Redis) =>
      buildApp({
        pool,
        redis,
        reader: new RedisPurchasePackageReader(redis, 'readyz'),
        provider: createSimulatedProvider(),
        authenticate: createAuthenticator({ kind: 'hs256', secret: requireEnv('AUTH_JWT_SECRET') }),
        logger: createLogger('api-test', 'silent'),
        registry: new Registry(),
        settings: {
          redisKeyPrefix: 'readyz',
          bodyLimitBytes: 1024,
          idempotencyTtlHours: 24,
          consistencyTokenSecret: 'c'.repeat(32),
          webhookSecret: undefined,
          webhookToleranceSeconds: 300,
          rateLimitUserPerMinute: 0,
          rateLimitIpPerMinute: 0,
        },
      });
    const down = await make(deadRedis);
    const up = await make(liveRedis);
    try {
      const notReady = await down.inject({ method: 'GET', url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json()).toEqual({ status: 'not_ready' });
      expect((await down.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await up.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
    } finally {
      await down.close();
      await up.close();
      deadRedis.disconnect();
      await liveRedis.quit();
      await pool.end();
    }
  });
});
