import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider, type PaymentProvider } from '../../runtime/api/payments/provider.ts';
import { createPaymentRecovery, INTERRUPTED_FAILURE_CODE } from '../../runtime/api/payments/recovery.ts';
import { createPurchaseResponse, paymentResponse } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

/*
 * Payments left `processing` against the real MariaDB: a confirm interrupted between its two
 * transactions (here: a provider call that never returns, as if the process had died), a charge whose
 * answer came too late, an async charge waiting for its webhook. The recovery asks the provider, moves
 * the payment, and the confirm's Idempotency-Key, stuck in flight (409), replays the outcome.
 */
const simulated = createSimulatedProvider();
/** Payment methods that make the provider hang: before it records the charge, or after. */
const HANG_BEFORE = 'pm_hang_before_charge';
const HANG_AFTER = 'pm_hang_after_charge';
const SLOW = 'pm_slow';
const releases: Array<() => void> = [];
const hang = () => new Promise<void>((resolve) => releases.push(resolve));

const provider: PaymentProvider = {
  name: simulated.name,
  async charge(req) {
    if (req.paymentMethod === HANG_BEFORE) {
      await hang();
      return simulated.charge({ ...req, paymentMethod: 'pm_card_ok' });
    }
    if (req.paymentMethod === HANG_AFTER) {
      const charged = await simulated.charge({ ...req, paymentMethod: 'pm_card_ok' });
      await hang();
      return charged;
    }
    if (req.paymentMethod === SLOW) {
      const charged = await simulated.charge({ ...req, paymentMethod: 'pm_card_declined' });
      await new Promise((r) => setTimeout(r, 600));
      return charged;
    }
    return simulated.charge(req);
  },
  retrieve: (id) => simulated.retrieve(id),
  refund: (req) => simulated.refund(req),
  retrieveRefund: (id) => simulated.retrieveRefund(id),
};

let api: ApiHarness;
/** The same api with a provider timeout of 200 ms. */
let quick: ApiHarness;
let token: string;

beforeAll(async () => {
  [api, quick] = await Promise.all([
    startApi({}, { provider }),
    startApi({ providerTimeoutMs: 200 }, { provider }),
  ]);
  token = await mintToken(`rec_${uniqueSuffix()}`);
});
afterAll(async () => {
  // Let hung provider calls return so their requests (and the servers) can finish.
  for (const release of releases) release();
  await Promise.all([api?.close(), quick?.close()]);
});

async function buy(on: ApiHarness = api): Promise<string> {
  const res = await call(on.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: 'pkg_plus' },
    headers: { 'idempotency-key': `buy_${uniqueSuffix()}` },
  });
  expect(res.status).toBe(201);
  return createPurchaseResponse.parse(res.body).payment.id;
}

function confirm(paymentId: string, key: string, method: string, signal?: AbortSignal, on: ApiHarness = api) {
  return fetch(`${on.url}/v1/payments/${paymentId}/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ payment_method: method }),
    ...(signal ? { signal } : {}),
  });
}

/** Starts a confirm that never gets its provider's answer; resolves once the payment is processing. */
async function interruptedConfirm(method: string): Promise<{ paymentId: string; key: string }> {
  const paymentId = await buy();
  const key = `confirm_${uniqueSuffix()}`;
  const abort = new AbortController();
  confirm(paymentId, key, method, abort.signal).catch(() => {});
  const deadline = Date.now() + 5000;
  while ((await status(paymentId)) !== 'processing') {
    if (Date.now() > deadline) throw new Error('the confirm did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  abort.abort();
  return { paymentId, key };
}

async function status(paymentId: string, on: ApiHarness = api): Promise<string | undefined> {
  const [rows] = await on.db.admin.query('SELECT status FROM payments WHERE id = ?', [paymentId]);
  return (rows as { status: string }[])[0]?.status;
}

const recovery = (staleAfterSeconds = 0, on: ApiHarness = api) =>
  createPaymentRecovery({ pool: on.pool, provider, staleAfterSeconds });

describe('recovery of payments left processing', () => {
  it('settles a charge the provider made before the confirm was interrupted; the key replays it', async () => {
    const { paymentId, key } = await interruptedConfirm(HANG_AFTER);
    expect((await confirm(paymentId, key, HANG_AFTER)).status).toBe(409);
    // Not stale yet: left alone.
    expect(await recovery(3600).sweepOnce()).toEqual([]);
    expect(await recovery().sweepOnce()).toContain('succeeded');
    expect(await status(paymentId)).toBe('succeeded');
    const retry = await confirm(paymentId, key, HANG_AFTER);
    expect(retry.status).toBe(200);
    expect(paymentResponse.parse(await retry.json()).payment.status).toBe('succeeded');
  });

  it('fails a payment whose charge never reached the provider: nothing was taken', async () => {
    const { paymentId, key } = await interruptedConfirm(HANG_BEFORE);
    expect(await recovery().sweepOnce()).toContain('never_charged');
    const retry = await confirm(paymentId, key, HANG_BEFORE);
    expect(retry.status).toBe(200);
    const payment = paymentResponse.parse(await retry.json()).payment;
    expect(payment).toMatchObject({ status: 'failed', failure_code: INTERRUPTED_FAILURE_CODE });
  });

  it('keeps a charge whose answer came too late processing, then settles it as the provider did', async () => {
    const paymentId = await buy(quick);
    const first = await confirm(paymentId, `confirm_${uniqueSuffix()}`, SLOW, undefined, quick);
    // The provider did not answer within 200 ms: unknown, not failed.
    expect(first.status).toBe(200);
    expect(paymentResponse.parse(await first.json()).payment.status).toBe('processing');
    await new Promise((r) => setTimeout(r, 700));
    expect(await recovery(0, quick).sweepOnce()).toContain('failed');
    const [rows] = await quick.db.admin.query('SELECT status, failure_code FROM payments WHERE id = ?', [
      paymentId,
    ]);
    expect((rows as unknown[])[0]).toEqual({ status: 'failed', failure_code: 'card_declined' });
  });

  it('leaves an async charge to its webhook and moves it to the back of the queue', async () => {
    const paymentId = await buy();
    const res = await confirm(paymentId, `confirm_${uniqueSuffix()}`, 'pm_card_async');
    expect(paymentResponse.parse(await res.json()).payment.status).toBe('processing');
    const age = async () => {
      const [rows] = await api.db.admin.query(
        'SELECT CAST(updated_at AS CHAR) AS t FROM payments WHERE id = ?',
        [paymentId],
      );
      return (rows as { t: string }[])[0]?.t;
    };
    const before = await age();
    await new Promise((r) => setTimeout(r, 20));
    expect(await recovery().sweepOnce()).toContain('still_processing');
    expect(await status(paymentId)).toBe('processing');
    expect(await age()).not.toBe(before);
  });
});
