// MariaDB and Redis really stopped under the real api: every request that needs the missing server
// answers 503 with Retry-After in the error shape (never 500), a purchase does not need the cache,
// and everything answers again by itself once the server is back. The suite starts a private MariaDB
// (dev/stack.sh's `outage` profile on its own free port and data dir, so the shared test stack and
// the producer's outage suite are never touched) and a private redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchaseResponse, errorSchema } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { type PrivateStack, privateStack } from '../support/private-stack.ts';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.ts';
import { freeStablePort, waitFor } from '../support/wait.ts';

let mysqlPort: number;
let api: ApiHarness;
let redis: RedisProcess;
let token: string;
const userId = `out_${uniqueSuffix()}`;
let outage: PrivateStack;
/** dev/stack.sh for a private MariaDB only (its own port and data dir on the `outage` profile). */
const stack = (...args: string[]) => outage.run(...args);

beforeAll(async () => {
  mysqlPort = await freeStablePort();
  outage = privateStack('outage', ['mariadb'], {
    dir: '.local/api-outage',
    env: { MYSQL_PORT: String(mysqlPort) },
  });
  await stack('up');
  const env = outage.env();
  redis = await startRedisProcess();
  // As main.ts bounds every request (default 30 s), shorter to keep the suite quick.
  api = await startApi(
    { requestTimeoutMs: 3000 },
    {
      mysqlServer: {
        adminUrl: env.MYSQL_ADMIN_URL ?? '',
        appUrl: env.MYSQL_URL ?? '',
        cdcUrl: env.MYSQL_CDC_URL ?? '',
      },
      redisUrl: `redis://127.0.0.1:${redis.port}/0`,
    },
  );
  token = await mintToken(userId);
}, 240_000);

/** The private MariaDB's pid (dev/stack.sh's pid file). */
const mariadbPid = () => outage.pid('mariadb');

afterAll(async () => {
  // A hung-server test that failed midway must not leave the server stopped for `down`.
  try {
    process.kill(mariadbPid(), 'SIGCONT');
  } catch {
    // not running
  }
  await api?.close().catch(() => undefined);
  await redis?.stop();
  await stack('down');
}, 240_000);

const key = () => `k_${uniqueSuffix()}${Math.random().toString(36).slice(2)}`;
const purchase = () =>
  call(api.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: 'pkg_plus' },
    headers: { 'idempotency-key': key() },
  });
const confirm = (paymentId: string) =>
  call(api.url, 'POST', `/v1/payments/${paymentId}/confirm`, {
    token,
    body: { payment_method: 'pm_card_ok' },
    headers: { 'idempotency-key': key() },
  });
const readPackage = () => call(api.url, 'GET', `/v1/users/${userId}/purchases`, { token });

function expectUnavailable(res: { status: number; headers: Headers; body: unknown }) {
  expect(res.status).toBe(503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(errorSchema.parse(res.body).error).toMatchObject({ type: 'api_error', code: 'service_unavailable' });
}

describe('MariaDB stopped', () => {
  it('purchase, confirm, payment and package reads answer 503 + Retry-After, then recover by themselves', async () => {
    const before = await purchase();
    expect(before.status).toBe(201);
    const pending = createPurchaseResponse.parse(before.body).payment.id;

    await stack('stop', 'mariadb');
    try {
      expectUnavailable(await purchase());
      expectUnavailable(await confirm(pending));
      expectUnavailable(await readPackage()); // Redis holds nothing: the MySQL fallback is needed
      expectUnavailable(await call(api.url, 'GET', `/v1/payments/${pending}`, { token }));
      expectUnavailable(await call(api.url, 'GET', '/v1/packages', { token }));
    } finally {
      await stack('start', 'mariadb');
    }
    // No restart of the api: its pool reconnects on the next request.
    const again = await waitFor('a purchase after MariaDB is back', async () => {
      const res = await purchase();
      return res.status === 201 ? res : undefined;
    });
    expect(again.status).toBe(201);
    expect((await confirm(pending)).status).toBe(200);
    const page = await readPackage();
    expect(page.status).toBe(200);
  });
});

describe('MariaDB hung (SIGSTOP: connections stay open, nothing answers)', () => {
  it('requests answer 503 + Retry-After within the request timeout, then recover by themselves', async () => {
    expect((await purchase()).status).toBe(201);
    const pid = mariadbPid();
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const hung = await purchase();
      expectUnavailable(hung);
      expect(Date.now() - started).toBeLessThan(8000);
      expectUnavailable(await call(api.url, 'GET', '/v1/packages', { token }));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const again = await waitFor('a purchase after MariaDB answers again', async () => {
      const res = await purchase();
      return res.status === 201 ? res : undefined;
    });
    expect(again.status).toBe(201);
  });
});

describe('Redis stopped', () => {
  it('a purchase and its confirm succeed without the cache; the package read answers 503, then recovers', async () => {
    const port = redis.port;
    await redis.stop();
    try {
      const bought = await purchase();
      expect(bought.status).toBe(201);
      const paymentId = createPurchaseResponse.parse(bought.body).payment.id;
      expect((await confirm(paymentId)).status).toBe(200);
      expectUnavailable(await readPackage());
    } finally {
      redis = await startRedisProcess({ port });
    }
    const page = await waitFor('a package read after Redis is back', async () => {
      const res = await readPackage();
      return res.status === 200 ? res : undefined;
    });
    expect(page.status).toBe(200);
  });
});
