import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenance } from '../../runtime/api/maintenance.ts';
import { purgeWebhookEvents, signPayload } from '../../runtime/api/payments/webhooks.ts';
import { createPurchaseResponse, errorSchema } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import {
  confirmedPayment,
  paymentRow,
  postWebhook,
  signWebhook,
  unixNow,
  WEBHOOKS,
} from '../support/payments.ts';

let api: ApiHarness;
let token: string;

beforeAll(async () => {
  api = await startApi();
  token = await mintToken(`wh_${uniqueSuffix()}`);
});
afterAll(async () => {
  await api?.close();
});

const now = unixNow;

/** A purchase whose payment the simulated provider left processing (settled by webhook). */
const processingPayment = () =>
  confirmedPayment(api, token, { paymentMethod: 'pm_card_async', status: 'processing' });
const send = (body: string, signature: string | undefined) =>
  postWebhook(api, WEBHOOKS.provider, body, signature);
const statusOf = async (id: string) => (await paymentRow(api, id)).status;

async function eventCount(): Promise<number> {
  const [rows] = await api.db.admin.query('SELECT COUNT(*) AS n FROM webhook_events');
  return Number((rows as { n: string }[])[0]?.n);
}

describe('provider webhooks', () => {
  it('a signed event settles the payment; its replay is harmless', async () => {
    const id = await processingPayment();
    const body = JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      type: 'payment.succeeded',
      data: { provider_ref: `sim_${id}` },
    });
    const first = await send(body, signWebhook(body));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(id)).toBe('succeeded');

    const replay = await send(body, signWebhook(body));
    expect(replay.body).toEqual({ received: true, duplicate: true, applied: false });
    expect(await statusOf(id)).toBe('succeeded');

    // A different event that would be an illegal transition is recorded but changes nothing.
    const late = JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      type: 'payment.failed',
      data: { provider_ref: `sim_${id}` },
    });
    const res = await send(late, signWebhook(late));
    expect(res.body).toEqual({ received: true, duplicate: false, applied: false });
    expect(await statusOf(id)).toBe('succeeded');
  });

  it('an event that overtakes the provider reference is not recorded: 409 + Retry-After, applied on redelivery', async () => {
    // The purchase's payment has no provider reference yet (as while its confirm waits on the provider).
    const created = await call(api.url, 'POST', '/v1/purchases', {
      token,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    const id = createPurchaseResponse.parse(created.body).payment.id;
    const body = JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      type: 'payment.succeeded',
      data: { provider_ref: `sim_${id}` },
    });
    const before = await eventCount();
    const early = await send(body, signWebhook(body));
    expect(early.status).toBe(409);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(errorSchema.parse(early.body).error).toMatchObject({
      type: 'conflict',
      code: 'payment_not_found_yet',
    });
    expect(await eventCount()).toBe(before);

    // The confirm records the reference (async charge: processing); the provider delivers again.
    const confirmed = await call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
      token,
      body: { payment_method: 'pm_card_async' },
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    expect(confirmed.body).toMatchObject({ payment: { status: 'processing' } });
    const redelivered = await send(body, signWebhook(body));
    expect(redelivered.status).toBe(200);
    expect(redelivered.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(id)).toBe('succeeded');
  });

  it('a refund event settles a refund in progress; a charge event never moves it', async () => {
    const id = await processingPayment();
    const event = (type: string) =>
      JSON.stringify({ id: `evt_${uniqueSuffix()}`, type, data: { provider_ref: `sim_${id}` } });
    const succeeded = event('payment.succeeded');
    await send(succeeded, signWebhook(succeeded));
    await api.db.admin.query("UPDATE payments SET status = 'refunding' WHERE id = ?", [id]);
    const stale = event('payment.succeeded');
    const late = await send(stale, signWebhook(stale));
    expect(late.body).toEqual({ received: true, duplicate: false, applied: false });
    expect(await statusOf(id)).toBe('refunding');
    const refunded = event('payment.refunded');
    const res = await send(refunded, signWebhook(refunded));
    expect(res.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(id)).toBe('refunded');
  });

  it('refuses missing, malformed, stale, wrong-secret and tampered signatures without writing', async () => {
    const id = await processingPayment();
    const body = JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      type: 'payment.failed',
      data: { provider_ref: `sim_${id}` },
    });
    const before = await eventCount();
    const cases: [string | undefined, string, string][] = [
      [undefined, body, 'signature_missing'],
      ['v1=abc', body, 'signature_malformed'],
      [signWebhook(body, -3600), body, 'signature_expired'],
      [signWebhook(body, 3600), body, 'signature_expired'],
      [signPayload('some-other-secret-value', body, now()), body, 'signature_invalid'],
      [signWebhook(body), body.replace('payment.failed', 'payment.succeeded'), 'signature_invalid'],
      [`t=${now()},v1=zz`, body, 'signature_invalid'],
    ];
    for (const [signature, sent, code] of cases) {
      const res = await send(sent, signature);
      expect(res.status, code).toBe(400);
      expect(errorSchema.parse(res.body).error).toMatchObject({ type: 'invalid_request_error', code });
    }
    expect(await eventCount()).toBe(before);
    expect(await statusOf(id)).toBe('processing');
  });

  it('a correctly signed but malformed event is a 400 and records nothing', async () => {
    const before = await eventCount();
    for (const body of [
      '{"id":',
      JSON.stringify({ id: 'evt_1', type: 'payment.exploded', data: { provider_ref: 'x' } }),
    ]) {
      const res = await send(body, signWebhook(body));
      expect(res.status).toBe(400);
      errorSchema.parse(res.body);
    }
    expect(await eventCount()).toBe(before);
  });
});

describe('webhook event retention', () => {
  it('purges events past the retention, oldest first and bounded per pass; keeps the rest', async () => {
    const provider = `purge_${uniqueSuffix()}`;
    const insert = (id: string, daysAgo: number) =>
      api.db.admin.query(
        'INSERT INTO webhook_events (provider, event_id, received_at) VALUES (?, ?, UTC_TIMESTAMP(6) - INTERVAL ? DAY)',
        [provider, id, daysAgo],
      );
    for (let i = 0; i < 5; i++) await insert(`old_${i}`, 40 + i);
    await insert('recent', 29);
    const left = async () => {
      const [rows] = await api.db.admin.query(
        'SELECT event_id FROM webhook_events WHERE provider = ? ORDER BY event_id',
        [provider],
      );
      return (rows as { event_id: string }[]).map((r) => r.event_id);
    };
    // Two batches of two at most: the four oldest go first.
    expect(await purgeWebhookEvents(api.pool, 30, { batch: 2, maxBatches: 2 })).toBe(4);
    expect(await left()).toEqual(['old_0', 'recent']);
    const purged: Record<string, number> = {};
    const maintenance = createMaintenance({
      pool: api.pool,
      webhookRetentionDays: 30,
      onPurged: (table, rows) => {
        purged[table] = rows;
      },
    });
    expect((await maintenance.runOnce()).webhookEvents).toBe(1);
    expect(purged.webhookEvents).toBe(1);
    expect(await left()).toEqual(['recent']);
  });
});

describe('rate limits per address', () => {
  let limited: ApiHarness;
  beforeAll(async () => {
    limited = await startApi({ rateLimitUserPerMinute: 1000, rateLimitIpPerMinute: 3 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('counts failed authentications too, so token guessing is limited', async () => {
    const msLeft = 60_000 - (Date.now() % 60_000);
    if (msLeft < 3000) await new Promise((r) => setTimeout(r, msLeft + 100));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await call(limited.url, 'GET', '/v1/packages', { headers: { authorization: 'Bearer x.y.z' } }))
          .status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('rate limits', () => {
  let limited: ApiHarness;
  beforeAll(async () => {
    limited = await startApi({ rateLimitUserPerMinute: 3, rateLimitIpPerMinute: 1000 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('refuses a user over the limit with 429 and Retry-After, held in Redis', async () => {
    const user = `rl_${uniqueSuffix()}`;
    const t = await mintToken(user);
    // Windows are whole minutes: do not straddle a boundary.
    const msLeft = 60_000 - (Date.now() % 60_000);
    if (msLeft < 3000) await new Promise((r) => setTimeout(r, msLeft + 100));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await call(limited.url, 'GET', `/v1/users/${user}/purchases`, { token: t })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await call(limited.url, 'GET', `/v1/users/${user}/purchases`, { token: t });
    expect(errorSchema.parse(res.body).error.type).toBe('rate_limit_error');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.headers.get('x-package-source')).toBeNull();
    // The limiter answers first even though the route reads in the same round trip: a bad cursor or
    // another user's package still gets the 429.
    const badCursor = await call(limited.url, 'GET', `/v1/users/${user}/purchases?cursor=!!`, { token: t });
    expect(badCursor.status).toBe(429);
    const foreign = await call(limited.url, 'GET', `/v1/users/x${user}/purchases`, { token: t });
    expect(foreign.status).toBe(429);
    const keys = await limited.redis.keys(`${limited.prefix}:rl:user:${user}:*`);
    expect(keys.length).toBe(1);
    // Another user is unaffected.
    const other = await mintToken(`rl2_${uniqueSuffix()}`);
    expect((await call(limited.url, 'GET', '/v1/packages', { token: other })).status).toBe(200);
  });
});
