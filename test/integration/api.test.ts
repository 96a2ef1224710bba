import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenSigner } from '../../runtime/api/consistency-token.ts';
import { purgeExpiredKeys } from '../../runtime/api/idempotency.ts';
import { createPurchaseResponse, errorSchema, paymentResponse } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi, TEST_CONSISTENCY_TOKEN_SECRET } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { gtidPattern } from '../support/flavor.ts';
import { mintToken, unsignedToken } from '../support/jwt.ts';

let api: ApiHarness;
let alice: string;
let bob: string;
let admin: string;
const aliceId = `alice_${uniqueSuffix()}`;
const bobId = `bob_${uniqueSuffix()}`;

beforeAll(async () => {
  api = await startApi();
  alice = await mintToken(aliceId);
  bob = await mintToken(bobId);
  admin = await mintToken(`ops_${uniqueSuffix()}`, { scope: 'purchases admin' });
});
afterAll(async () => {
  await api?.close();
});

const key = () => `k_${uniqueSuffix()}_${Math.random().toString(36).slice(2)}`;

async function rowCounts(): Promise<{ purchases: number; payments: number; keys: number }> {
  const [rows] = await api.db.admin.query(
    `SELECT (SELECT COUNT(*) FROM purchases) AS purchases, (SELECT COUNT(*) FROM payments) AS payments,
            (SELECT COUNT(*) FROM idempotency_keys) AS \`keys\``,
  );
  const r = (rows as Record<string, string>[])[0] ?? {};
  return { purchases: Number(r.purchases), payments: Number(r.payments), keys: Number(r.keys) };
}

async function buy(token: string, packageId = 'pkg_plus') {
  const res = await call(api.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: packageId },
    headers: { 'idempotency-key': key() },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body);
}

function expectError(res: { status: number; body: unknown }, status: number, type: string, code?: string) {
  expect(res.status).toBe(status);
  const body = errorSchema.parse(res.body);
  expect(body.error.type).toBe(type);
  if (code) expect(body.error.code).toBe(code);
  return body.error;
}

describe('happy path', () => {
  it('buys a package at the catalog price, confirms, reads it back, refunds', async () => {
    const catalog = await call(api.url, 'GET', '/v1/packages', { token: alice });
    expect(catalog.status).toBe(200);
    expect(catalog.body).toMatchObject({
      items: expect.arrayContaining([
        {
          id: 'pkg_pro',
          name: 'Pro',
          description: '2,000 credits',
          price: { amount: 6999, currency: 'EUR' },
        },
      ]),
    });

    const created = await buy(alice, 'pkg_pro');
    expect(created.purchase).toMatchObject({
      user_id: aliceId,
      package_id: 'pkg_pro',
      amount: 6999,
      currency: 'EUR',
    });
    expect(created.payment).toMatchObject({
      status: 'pending',
      amount: 6999,
      currency: 'EUR',
      purchase_id: created.purchase.id,
    });
    expect(created.purchase.id).toMatch(/^pur_[0-9A-Z]{26}$/);
    const token = createTokenSigner(TEST_CONSISTENCY_TOKEN_SECRET).verify(
      aliceId,
      created.consistency_token ?? '',
    );
    expect(token?.rows).toEqual([`purchases:${created.purchase.id}`, `payments:${created.payment.id}`]);
    expect(token?.gtid).toMatch(gtidPattern());

    const [dbRows] = await api.db.admin.query('SELECT amount, currency, status FROM payments WHERE id = ?', [
      created.payment.id,
    ]);
    expect(dbRows).toEqual([{ amount: '6999', currency: 'EUR', status: 'pending' }]);

    const confirmed = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/confirm`, {
      token: alice,
      headers: { 'idempotency-key': key() },
    });
    expect(confirmed.status).toBe(200);
    expect(paymentResponse.parse(confirmed.body).payment.status).toBe('succeeded');

    const fetched = await call(api.url, 'GET', `/v1/payments/${created.payment.id}`, { token: alice });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ payment: { id: created.payment.id, status: 'succeeded' } });

    const list = await call(
      api.url,
      'GET',
      `/v1/users/${aliceId}/purchases?consistency_token=${created.consistency_token}`,
      { token: alice },
    );
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({
      items: [
        {
          purchase_id: created.purchase.id,
          package: { id: 'pkg_pro', name: 'Pro' },
          paid: true,
          payment: { status: 'succeeded' },
        },
      ],
    });

    const refunded = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/refund`, {
      token: alice,
      body: {},
      headers: { 'idempotency-key': key() },
    });
    expect(refunded.status).toBe(200);
    expect(refunded.body).toMatchObject({ payment: { status: 'refunded' } });
  });

  it('records declines from the simulated provider as failed payments', async () => {
    const created = await buy(alice);
    const res = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/confirm`, {
      token: alice,
      body: { payment_method: 'pm_card_declined' },
      headers: { 'idempotency-key': key() },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ payment: { status: 'failed', failure_code: 'card_declined' } });
  });
});

describe('idempotency', () => {
  it('replays the first response byte for byte and creates nothing new', async () => {
    const k = key();
    const first = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_starter' },
      headers: { 'idempotency-key': k },
    });
    const before = await rowCounts();
    const again = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_starter' },
      headers: { 'idempotency-key': k },
    });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(first.headers.get('idempotent-replayed')).toBe('false');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses the same key with other parameters (422) and writes nothing', async () => {
    const k = key();
    await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_starter' },
      headers: { 'idempotency-key': k },
    });
    const before = await rowCounts();
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_pro' },
      headers: { 'idempotency-key': k },
    });
    expectError(res, 422, 'idempotency_error', 'idempotency_key_reused');
    expect(await rowCounts()).toEqual(before);
  });

  it('keys are per user: the same key from another user is a new request', async () => {
    const k = key();
    const a = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': k },
    });
    const b = await call(api.url, 'POST', '/v1/purchases', {
      token: bob,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': k },
    });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect((b.body as { purchase: { user_id: string } }).purchase.user_id).toBe(bobId);
  });

  it('N parallel requests with one key create exactly one purchase; the rest replay or get 409', async () => {
    const k = key();
    const user = `par_${uniqueSuffix()}`;
    const token = await mintToken(user);
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        call(api.url, 'POST', '/v1/purchases', {
          token,
          body: { package_id: 'pkg_plus' },
          headers: { 'idempotency-key': k },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    const ids = new Set(created.map((r) => (r.body as { purchase: { id: string } }).purchase.id));
    expect(ids.size).toBe(1);
    for (const conflict of results.filter((r) => r.status === 409)) {
      expectError(conflict, 409, 'conflict', 'idempotency_key_in_use');
    }
    const [rows] = await api.db.admin.query('SELECT COUNT(*) AS n FROM purchases WHERE user_id = ?', [user]);
    expect(rows).toEqual([{ n: '1' }]);
  });

  it('keeps keys 24 h; an expired key starts afresh and the purge removes only expired keys', async () => {
    const k = key();
    const first = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': k },
    });
    const [ttl] = await api.db.admin.query(
      'SELECT TIMESTAMPDIFF(HOUR, created_at, expires_at) AS hours FROM idempotency_keys WHERE user_id = ? AND idem_key = ?',
      [aliceId, k],
    );
    expect(ttl).toEqual([{ hours: '24' }]);
    await api.db.admin.query(
      'UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE idem_key = ?',
      [k],
    );
    const again = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_pro' },
      headers: { 'idempotency-key': k },
    });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('false');
    expect((again.body as { purchase: { id: string } }).purchase.id).not.toBe(
      (first.body as { purchase: { id: string } }).purchase.id,
    );

    const stale = key();
    await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': stale },
    });
    await api.db.admin.query(
      'UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE idem_key = ?',
      [stale],
    );
    const before = await rowCounts();
    expect(await purgeExpiredKeys(api.pool)).toBe(1);
    expect((await rowCounts()).keys).toBe(before.keys - 1);
  });

  it('requires a well-formed Idempotency-Key on every POST', async () => {
    const before = await rowCounts();
    const missing = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_plus' },
    });
    expect(expectError(missing, 400, 'invalid_request_error', 'idempotency_key_missing').param).toBe(
      'Idempotency-Key',
    );
    const bad = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': 'a b' },
    });
    expectError(bad, 400, 'invalid_request_error', 'idempotency_key_invalid');
    expect(await rowCounts()).toEqual(before);
  });
});

describe('authentication', () => {
  const cases: [string, () => Promise<Record<string, string>>, string][] = [
    ['missing token', async () => ({}), 'missing_token'],
    ['not a bearer token', async () => ({ authorization: 'Basic YWxpY2U6cHc=' }), 'malformed_token'],
    [
      'expired token',
      async () => ({
        authorization: `Bearer ${await mintToken('alice', { expiresIn: Math.floor(Date.now() / 1000) - 60 })}`,
      }),
      'token_expired',
    ],
    [
      'wrong secret',
      async () => ({
        authorization: `Bearer ${await mintToken('alice', { secret: 'another-secret-that-is-long-enough-1234' })}`,
      }),
      'invalid_token',
    ],
    ['alg none', async () => ({ authorization: `Bearer ${unsignedToken('alice')}` }), 'invalid_token'],
    [
      'tampered payload',
      async () => {
        const [h, , s] = (await mintToken('alice')).split('.');
        const forged = Buffer.from(
          JSON.stringify({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 600 }),
        ).toString('base64url');
        return { authorization: `Bearer ${h}.${forged}.${s}` };
      },
      'invalid_token',
    ],
    ['garbage', async () => ({ authorization: 'Bearer not.a.jwt' }), 'invalid_token'],
  ];

  it.each(cases)('%s → 401 and nothing written', async (_name, headers, code) => {
    const before = await rowCounts();
    const h = await headers();
    const write = await call(api.url, 'POST', '/v1/purchases', {
      body: { package_id: 'pkg_plus' },
      headers: { ...h, 'idempotency-key': key() },
    });
    expectError(write, 401, 'authentication_error', code);
    expect(write.headers.get('www-authenticate')).toContain('Bearer');
    const read = await call(api.url, 'GET', '/v1/users/alice/purchases', { headers: h });
    expectError(read, 401, 'authentication_error', code);
    expect(await rowCounts()).toEqual(before);
  });
});

describe('cross-user access', () => {
  it("another user's package, payment and actions answer 404; admin scope may read", async () => {
    const created = await buy(alice);
    const pay = created.payment.id;
    expectError(
      await call(api.url, 'GET', `/v1/users/${aliceId}/purchases`, { token: bob }),
      404,
      'not_found',
    );
    expectError(await call(api.url, 'GET', `/v1/payments/${pay}`, { token: bob }), 404, 'not_found');
    expectError(
      await call(api.url, 'POST', `/v1/payments/${pay}/confirm`, {
        token: bob,
        headers: { 'idempotency-key': key() },
      }),
      404,
      'not_found',
    );
    expectError(
      await call(api.url, 'POST', `/v1/payments/${pay}/refund`, {
        token: bob,
        headers: { 'idempotency-key': key() },
      }),
      404,
      'not_found',
    );
    const [rows] = await api.db.admin.query('SELECT status FROM payments WHERE id = ?', [pay]);
    expect(rows).toEqual([{ status: 'pending' }]);

    const asAdmin = await call(api.url, 'GET', `/v1/users/${aliceId}/purchases`, { token: admin });
    expect(asAdmin.status).toBe(200);
    expect((asAdmin.body as { items: unknown[] }).items.length).toBeGreaterThan(0);
    expect((await call(api.url, 'GET', `/v1/payments/${pay}`, { token: admin })).status).toBe(200);
    // Admins read; they do not act on other users' payments.
    expectError(
      await call(api.url, 'POST', `/v1/payments/${pay}/confirm`, {
        token: admin,
        headers: { 'idempotency-key': key() },
      }),
      404,
      'not_found',
    );
  });
});

describe('bad input is a clear 4xx with nothing written', () => {
  const bodies: [string, string, number, string][] = [
    ['invalid JSON', '{"package_id":', 400, 'invalid_json'],
    ['a JSON array', '["pkg_plus"]', 400, 'parameter_invalid'],
    ['wrong type', '{"package_id":42}', 400, 'parameter_invalid'],
    ['unknown field', '{"package_id":"pkg_plus","amount":1}', 400, 'parameter_unknown'],
    ['negative number', '{"package_id":-1}', 400, 'parameter_invalid'],
    ['huge number', '{"package_id":1e400}', 400, 'parameter_invalid'],
    ['missing field', '{}', 400, 'parameter_missing'],
    ['empty body', '', 400, 'parameter_missing'],
    ['unknown package', '{"package_id":"pkg_nope"}', 404, 'package_not_found'],
    ['malformed package id', '{"package_id":"../../etc"}', 400, 'parameter_invalid'],
  ];

  it.each(bodies)('%s', async (_name, rawBody, status, code) => {
    const before = await rowCounts();
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      rawBody,
      headers: { 'idempotency-key': key() },
    });
    expect(res.status).toBe(status);
    expect(errorSchema.parse(res.body).error.code).toBe(code);
    expect(await rowCounts()).toEqual(before);
  });

  it('an oversized body gets 413', async () => {
    const before = await rowCounts();
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      rawBody: JSON.stringify({ package_id: 'pkg_plus', pad: 'x'.repeat(32_000) }),
      headers: { 'idempotency-key': key() },
    });
    expectError(res, 413, 'invalid_request_error', 'body_too_large');
    expect(await rowCounts()).toEqual(before);
  });

  it('a non-JSON content type gets 415', async () => {
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token: alice,
      rawBody: 'package_id=pkg_plus',
      headers: { 'idempotency-key': key(), 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(res, 415, 'invalid_request_error', 'unsupported_media_type');
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=-5', 'limit'],
    ['limit=101', 'limit'],
    ['limit=99999999999', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    ['consistency_token=%7B%7D', 'consistency_token'],
    ['consistency_token=eyJnIjoibm9wZSIsInIiOltdfQ', 'consistency_token'],
    ['colour=blue', 'colour'],
  ])('package query %s → 400 naming %s', async (query, param) => {
    const res = await call(api.url, 'GET', `/v1/users/${aliceId}/purchases?${query}`, { token: alice });
    expect(expectError(res, 400, 'invalid_request_error').param).toBe(param);
  });

  it('a malformed X-Consistency-Token header → 400', async () => {
    const res = await call(api.url, 'GET', `/v1/users/${aliceId}/purchases`, {
      token: alice,
      headers: { 'x-consistency-token': '!!' },
    });
    expectError(res, 400, 'invalid_request_error', 'consistency_token_invalid');
  });

  it('unknown payment ids and unknown routes are 404 in the error shape', async () => {
    expectError(await call(api.url, 'GET', '/v1/payments/pay_nope', { token: alice }), 404, 'not_found');
    expectError(
      await call(api.url, 'GET', '/v1/nothing-here', { token: alice }),
      404,
      'not_found',
      'route_not_found',
    );
  });

  it('confirm rejects unknown fields and bad payment methods without touching the payment', async () => {
    const created = await buy(alice);
    for (const body of [{ payment_method: 'card' }, { payment_method: 'pm_card_ok', amount: 1 }]) {
      const res = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/confirm`, {
        token: alice,
        body,
        headers: { 'idempotency-key': key() },
      });
      expectError(res, 400, 'invalid_request_error');
    }
    const [rows] = await api.db.admin.query('SELECT status FROM payments WHERE id = ?', [created.payment.id]);
    expect(rows).toEqual([{ status: 'pending' }]);
  });
});

describe('payment state machine', () => {
  const confirm = (id: string, body: object = {}) =>
    call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
      token: alice,
      body,
      headers: { 'idempotency-key': key() },
    });
  const refund = (id: string) =>
    call(api.url, 'POST', `/v1/payments/${id}/refund`, {
      token: alice,
      headers: { 'idempotency-key': key() },
    });

  it('refuses illegal transitions with 409 and leaves the payment as it was', async () => {
    const pending = (await buy(alice)).payment.id;
    expectError(await refund(pending), 409, 'conflict', 'payment_invalid_state');

    expect((await confirm(pending)).status).toBe(200);
    expectError(await confirm(pending), 409, 'conflict', 'payment_invalid_state');

    const failed = (await buy(alice)).payment.id;
    expect((await confirm(failed, { payment_method: 'pm_card_insufficient_funds' })).status).toBe(200);
    expectError(await refund(failed), 409, 'conflict', 'payment_invalid_state');
    expectError(await confirm(failed), 409, 'conflict', 'payment_invalid_state');

    expect((await refund(pending)).status).toBe(200);
    expectError(await refund(pending), 409, 'conflict', 'payment_invalid_state');
    const [rows] = await api.db.admin.query(
      'SELECT id, status FROM payments WHERE id IN (?, ?) ORDER BY id',
      [pending, failed],
    );
    expect(rows).toEqual(
      [
        { id: pending, status: 'refunded' },
        { id: failed, status: 'failed' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
  });

  it('a replayed confirm returns the stored answer, not a 409', async () => {
    const id = (await buy(alice)).payment.id;
    const k = key();
    const first = await call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
      token: alice,
      headers: { 'idempotency-key': k },
    });
    const again = await call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
      token: alice,
      headers: { 'idempotency-key': k },
    });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
  });
});

describe('service surface', () => {
  it('serves health, readiness, metrics and an OpenAPI 3.1 document with security headers', async () => {
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(api.opsUrl, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
    const doc = await call(api.url, 'GET', '/openapi.json');
    expect(doc.body).toMatchObject({
      openapi: '3.1.0',
      paths: { '/v1/purchases': { post: expect.any(Object) } },
    });
    const docs = await call(api.url, 'GET', '/docs');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger-ui-bundle.js'); // rendered in the browser: api-docs.test.ts
    const metrics = await call(api.opsUrl, 'GET', '/metrics');
    expect(metrics.text).toContain('http_request_duration_seconds_bucket');
    expect(metrics.text).toContain('route="/v1/purchases"');
    const res = await call(api.url, 'GET', `/v1/users/${aliceId}/purchases`, {
      token: alice,
      headers: { 'x-request-id': 'req-abc-123' },
    });
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
