import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChargeResult,
  createSimulatedProvider,
  type PaymentProvider,
} from '../../runtime/api/payments/provider.ts';
import { SIGNATURE_HEADER, signPayload } from '../../runtime/api/payments/webhooks.ts';
import { createPurchaseResponse, packagePageSchema } from '../../runtime/api/schemas.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { type ApiHarness, call, startApi, TEST_WEBHOOK_SECRET } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// Identifiers compare exactly: values that differ only in letter case are different users, keys,
// events and references. Against the real api and MariaDB (the MySQL read path: Redis holds nothing).

/** The simulated provider, except that the test chooses the provider ref of a payment's charge. */
function providerWithRefs(refs: Map<string, string>): PaymentProvider {
  const sim = createSimulatedProvider();
  return {
    ...sim,
    async charge(req): Promise<ChargeResult> {
      const ref = refs.get(req.paymentId);
      return ref ? { outcome: 'processing', providerRef: ref } : sim.charge(req);
    },
  };
}

const refs = new Map<string, string>();
let api: ApiHarness;
const sfx = uniqueSuffix();
// Two users whose subs differ only in letter case.
const upper = `Case_${sfx}`;
const lower = `case_${sfx}`;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  api = await startApi({}, { provider: providerWithRefs(refs) });
  tokens[upper] = await mintToken(upper);
  tokens[lower] = await mintToken(lower);
});
afterAll(async () => {
  await api?.close();
});

async function buy(user: string, key: string, packageId = 'pkg_starter') {
  const res = await call(api.url, 'POST', '/v1/purchases', {
    token: tokens[user] ?? '',
    body: { package_id: packageId },
    headers: { 'idempotency-key': key },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body);
}

async function rebuild() {
  await rebuildCache({
    pool: api.db.admin,
    redis: api.redis,
    writer: new CacheWriter(api.redis, api.prefix),
    prefix: api.prefix,
    progress: silentProgress,
  });
}

async function list(user: string, query = '') {
  const res = await call(api.url, 'GET', `/v1/users/${user}/purchases${query}`, {
    token: tokens[user] ?? '',
  });
  expect(res.status).toBe(200);
  return { source: res.headers.get('x-package-source'), page: packagePageSchema.parse(res.body) };
}

function webhook(id: string, providerRef: string) {
  const body = JSON.stringify({ id, type: 'payment.succeeded', data: { provider_ref: providerRef } });
  const signature = signPayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000));
  return call(api.url, 'POST', '/v1/webhooks/provider', {
    rawBody: body,
    headers: { [SIGNATURE_HEADER]: signature },
  });
}

async function statusOf(paymentId: string): Promise<string> {
  const [rows] = await api.db.admin.query('SELECT status FROM payments WHERE id = ?', [paymentId]);
  return (rows as { status: string }[])[0]?.status ?? 'missing';
}

/** A payment left `processing` by the provider, under the provider ref given. */
async function processingWithRef(user: string, providerRef: string): Promise<string> {
  const created = await buy(user, `k_${uniqueSuffix()}`);
  refs.set(created.payment.id, providerRef);
  const confirmed = await call(api.url, 'POST', `/v1/payments/${created.payment.id}/confirm`, {
    token: tokens[user] ?? '',
    body: { payment_method: 'pm_card_async' },
    headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
  });
  expect(confirmed.status).toBe(200);
  expect(confirmed.body).toMatchObject({ payment: { status: 'processing' } });
  return created.payment.id;
}

describe('identifiers that differ only in letter case', () => {
  it('users: a Redis miss read from MySQL serves only their own purchases (before any rebuild)', async () => {
    const [a, b] = [`Miss_${sfx}`, `miss_${sfx}`];
    tokens[a] = await mintToken(a);
    tokens[b] = await mintToken(b);
    await buy(a, `k_${uniqueSuffix()}`);
    const mine = await buy(b, `k_${uniqueSuffix()}`);
    const miss = await list(b);
    expect(miss.source).toBe('mysql_miss');
    expect(miss.page.items.map((i) => i.purchase_id)).toEqual([mine.purchase.id]);
  });

  it('users: a read forced onto MySQL by a consistency token serves only their own purchases', async () => {
    const theirs = await buy(upper, `k_${uniqueSuffix()}`, 'pkg_pro');
    const mine = await buy(lower, `k_${uniqueSuffix()}`, 'pkg_plus');
    await rebuild();
    // One more write: its consistency token is one Redis has not reached, which forces MySQL.
    const next = await buy(lower, `k_${uniqueSuffix()}`, 'pkg_starter');
    const behind = await list(lower, `?consistency_token=${next.consistency_token}`);
    expect(behind.source).toBe('mysql_behind');
    expect(behind.page.items.map((i) => i.purchase_id)).toEqual([next.purchase.id, mine.purchase.id]);
    expect(behind.page.items.every((i) => i.user_id === lower)).toBe(true);

    // Redis (byte-exact keys) and MySQL agree once Redis has caught up.
    await rebuild();
    const hit = await list(lower, `?consistency_token=${next.consistency_token}`);
    expect(hit.source).toBe('redis');
    expect(hit.page).toEqual(behind.page);
    // The consistency checker finds Redis and MySQL in agreement, row by row and user by user.
    expect(await verifyCache({ pool: api.db.admin, redis: api.redis, prefix: api.prefix })).toEqual([]);
    expect((await list(upper)).page.items.map((i) => i.purchase_id)).toEqual([theirs.purchase.id]);
  });

  it("users: another user's Idempotency-Key does not replay their stored response", async () => {
    const key = `shared_${uniqueSuffix()}`;
    const theirs = await buy(upper, key);
    const mine = await buy(lower, key);
    expect(mine.purchase.id).not.toBe(theirs.purchase.id);
    expect(mine.purchase.user_id).toBe(lower);
    expect(mine.payment.user_id).toBe(lower);
  });

  it('idempotency keys: one user, two keys differing only in case, two purchases', async () => {
    const key = `Key_${uniqueSuffix()}`;
    const first = await buy(lower, key);
    const second = await buy(lower, key.toLowerCase());
    expect(second.purchase.id).not.toBe(first.purchase.id);
    // The exact same key still replays.
    const replay = await buy(lower, key);
    expect(replay.purchase.id).toBe(first.purchase.id);
  });

  it('package ids: a package id differing only in case is no package', async () => {
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token: tokens[lower] ?? '',
      body: { package_id: 'PKG_STARTER' },
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'package_not_found' } });
  });

  it('provider refs: two payments whose refs differ only in case each get their own webhook', async () => {
    const ref = `ext_CaseRef_${uniqueSuffix()}`;
    const a = await processingWithRef(lower, ref);
    const b = await processingWithRef(lower, ref.toLowerCase());
    const res = await webhook(`evt_${uniqueSuffix()}`, ref.toLowerCase());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(b)).toBe('succeeded');
    expect(await statusOf(a)).toBe('processing');
  });

  it('webhook event ids: an event whose id differs only in case is not a duplicate', async () => {
    const a = await processingWithRef(lower, `ext_a_${uniqueSuffix()}`);
    const b = await processingWithRef(lower, `ext_b_${uniqueSuffix()}`);
    const [refA, refB] = [refs.get(a) ?? '', refs.get(b) ?? ''];
    const id = `evt_CaseEvent_${uniqueSuffix()}`;
    expect((await webhook(id, refA)).body).toEqual({ received: true, duplicate: false, applied: true });
    const second = await webhook(id.toLowerCase(), refB);
    expect(second.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(b)).toBe('succeeded');
    // The exact same id is still a duplicate.
    expect((await webhook(id, refB)).body).toEqual({ received: true, duplicate: true, applied: false });
  });
});
