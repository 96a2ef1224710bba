import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../runtime/api/app.ts';
import { createAuthenticator } from '../../runtime/api/auth.ts';
import { createTokenSigner } from '../../runtime/api/consistency-token.ts';
import { createSimulatedProvider } from '../../runtime/api/payments/provider.ts';
import { createPurchaseResponse, packagePageSchema } from '../../runtime/api/schemas.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { encodeToken } from '../../runtime/core/position.ts';
import { type ApiHarness, call, startApi, TEST_CONSISTENCY_TOKEN_SECRET } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// Consistency tokens against the real api, MariaDB and Redis: only a token this api signed for the
// reading user, at a position MariaDB has committed, is taken; everything else is 400 before any read.

let api: ApiHarness;
const alice = `ct_alice_${uniqueSuffix()}`;
const bob = `ct_bob_${uniqueSuffix()}`;
let aliceJwt: string;
let bobJwt: string;

beforeAll(async () => {
  api = await startApi();
  aliceJwt = await mintToken(alice);
  bobJwt = await mintToken(bob);
});
afterAll(async () => {
  await api?.close();
});

async function buy(jwt: string, url = api.url) {
  const res = await call(url, 'POST', '/v1/purchases', {
    token: jwt,
    body: { package_id: 'pkg_starter' },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}${Math.random().toString(36).slice(2)}` },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body);
}

const read = (user: string, jwt: string, consistencyToken: string) =>
  call(
    api.url,
    'GET',
    `/v1/users/${user}/purchases?consistency_token=${encodeURIComponent(consistencyToken)}`,
    {
      token: jwt,
    },
  );

function expectInvalid(res: Awaited<ReturnType<typeof call>>) {
  expect(res.status).toBe(400);
  expect(res.body).toMatchObject({
    error: { type: 'invalid_request_error', code: 'consistency_token_invalid', param: 'consistency_token' },
  });
  expect(res.headers.get('x-package-source')).toBeNull();
}

/** The commit position inside a token the api handed out: `<payload>.<mac>`. */
function payloadOf(token: string): { g: string; s?: string; r: string[] } {
  const payload = token.split('.')[0] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    g: string;
    s?: string;
    r: string[];
  };
}

/** The same GTID a million transactions later (MariaDB `d-s-n`, MySQL `uuid:n`). */
const farAhead = (gtid: string) =>
  gtid.replace(/([-:])(\d+)$/, (_m, sep: string, n: string) => `${sep}${BigInt(n) + 1_000_000n}`);

describe('consistency tokens', () => {
  it("a real write's token gives read-your-writes (from MySQL until Redis has the commit)", async () => {
    const created = await buy(aliceJwt);
    const res = await read(alice, aliceJwt, created.consistency_token ?? '');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-package-source')).toMatch(/^mysql_/);
    expect(packagePageSchema.parse(res.body).items[0]?.purchase_id).toBe(created.purchase.id);
  });

  it('a token written through another replica is taken once the source position is read again', async () => {
    // A second api on the same database: its commits are unknown to the first one's position cache.
    const other = await buildApp({
      pool: api.pool,
      redis: api.redis,
      reader: new RedisPurchasePackageReader(api.redis, api.prefix),
      provider: createSimulatedProvider(),
      authenticate: createAuthenticator({ kind: 'hs256', secret: requireEnv('AUTH_JWT_SECRET') }),
      logger: createLogger('api-test', 'silent'),
      registry: new Registry(),
      settings: {
        redisKeyPrefix: api.prefix,
        bodyLimitBytes: 16_384,
        idempotencyTtlHours: 24,
        consistencyTokenSecret: TEST_CONSISTENCY_TOKEN_SECRET,
        webhookSecret: undefined,
        webhookToleranceSeconds: 300,
        rateLimitUserPerMinute: 0,
        rateLimitIpPerMinute: 0,
      },
    });
    try {
      await other.listen({ port: 0, host: '127.0.0.1' });
      const address = other.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const created = await buy(aliceJwt, `http://127.0.0.1:${port}`);
      const res = await read(alice, aliceJwt, created.consistency_token ?? '');
      expect(res.status).toBe(200);
      expect(packagePageSchema.parse(res.body).items[0]?.purchase_id).toBe(created.purchase.id);
    } finally {
      await other.close();
    }
  });

  it('refuses a forged token (a position and rows of the caller’s choosing, unsigned)', async () => {
    const created = await buy(aliceJwt);
    const { g } = payloadOf(created.consistency_token ?? '');
    expectInvalid(await read(alice, aliceJwt, encodeToken({ gtid: farAhead(g), rows: [] })));
    expectInvalid(await read(alice, aliceJwt, `${encodeToken({ gtid: g, rows: [] })}.${'A'.repeat(43)}`));
  });

  it('refuses a tampered token (payload changed, signature kept)', async () => {
    const created = await buy(aliceJwt);
    const real = created.consistency_token ?? '';
    const { g, r } = payloadOf(real);
    const mac = real.includes('.') ? `.${real.split('.')[1]}` : '';
    expectInvalid(await read(alice, aliceJwt, `${encodeToken({ gtid: farAhead(g), rows: r })}${mac}`));
    const probe = [`purchases:pur_${'0'.repeat(26)}`];
    expectInvalid(await read(alice, aliceJwt, `${encodeToken({ gtid: g, rows: probe })}${mac}`));
  });

  it("refuses another user's token: it can neither force MySQL reads nor probe that user's rows", async () => {
    const created = await buy(aliceJwt);
    await buy(bobJwt);
    expectInvalid(await read(bob, bobJwt, created.consistency_token ?? ''));
  });

  it('refuses a validly signed token beyond what the database has committed', async () => {
    const created = await buy(aliceJwt);
    const { g, s, r } = payloadOf(created.consistency_token ?? '');
    expect(s).toMatch(/^\d+$/);
    const signer = createTokenSigner(TEST_CONSISTENCY_TOKEN_SECRET);
    const beyond = String(BigInt(s ?? '0') + 1_000_000n);
    expectInvalid(await read(alice, aliceJwt, signer.sign(alice, { gtid: g, sequence: beyond, rows: r })));
    // A token without a sequence (signed before sequences existed) is judged by its GTID's number.
    expectInvalid(await read(alice, aliceJwt, signer.sign(alice, { gtid: farAhead(g), rows: r })));
    // The same signer at the real position is fine: only the position was wrong.
    const ok = await read(alice, aliceJwt, signer.sign(alice, { gtid: g, rows: r }));
    expect(ok.status).toBe(200);
  });
});
