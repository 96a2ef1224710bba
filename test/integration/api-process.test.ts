import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, countKeys } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { spawnService } from '../support/service-process.ts';
import { freePort } from '../support/wait.ts';

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
    const [port, opsPort] = [await freePort(), await freePort()];
    const env = {
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      REDIS_KEY_PREFIX: `apiprod_${uniqueSuffix()}`,
      AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
      CONSISTENCY_TOKEN_SECRET: 'consistency-token-secret-of-production',
      API_PORT: String(port),
      API_OPS_PORT: String(opsPort),
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
      await waitReady(`http://127.0.0.1:${opsPort}`, allowed.exited);
      expect(allowed.output()).toContain('payments are simulated, no money moves');
    } finally {
      allowed.child.kill('SIGTERM');
      await allowed.exited;
    }
  });

  it('serves a purchase and the package, ops routes on the ops port, then stops cleanly on SIGTERM', async () => {
    const [port, opsPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${port}`;
    const opsUrl = `http://127.0.0.1:${opsPort}`;
    const prefix = `apiproc_${uniqueSuffix()}`;
    const proc = startMain({
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      REDIS_KEY_PREFIX: prefix,
      AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
      API_PORT: String(port),
      API_OPS_PORT: String(opsPort),
      LOG_LEVEL: 'info',
    });
    try {
      await waitReady(opsUrl, proc.exited);
      expect((await call(url, 'GET', '/readyz')).status).toBe(404);
      expect((await call(url, 'GET', '/metrics')).status).toBe(404);
      expect((await call(url, 'GET', '/healthz')).status).toBe(200);
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

      expect((await call(opsUrl, 'GET', '/metrics')).text).toContain('route="/v1/purchases"');
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
  it('is false while Redis does not answer, true when both MySQL and Redis do, false once stopping', async () => {
    const { createReadinessProbe } = await import('../../runtime/api/readiness.ts');
    const { createPool } = await import('../../runtime/core/db/pool.ts');
    const pool = createPool(db.appUrl, { connectionLimit: 2 });
    // Nothing listens on port 1: every Redis command fails fast.
    const deadRedis = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    deadRedis.on('error', () => undefined);
    const liveRedis = new Redis(requireEnv('REDIS_URL'));
    let stopping = false;
    try {
      expect(await createReadinessProbe({ pool, redis: deadRedis })()).toBe(false);
      const live = createReadinessProbe({ pool, redis: liveRedis, isStopping: () => stopping });
      expect(await live()).toBe(true);
      stopping = true;
      expect(await live()).toBe(false); // at once, not after the cached answer expires
    } finally {
      deadRedis.disconnect();
      await liveRedis.quit();
      await pool.end();
    }
  });
});
