import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider, type PaymentProvider } from '../../runtime/api/payments/provider.ts';
import {
  createPaymentRecovery,
  REFUND_INTERRUPTED_FAILURE_CODE,
} from '../../runtime/api/payments/recovery.ts';
import { paymentResponse } from '../../runtime/api/schemas.ts';
import { type ApiHarness, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { confirmedPayment } from '../support/payments.ts';

/*
 * Refunds in two phases against the real MariaDB: `refunding` is committed, the provider is asked
 * outside any transaction with a timeout and the refund's idempotency key, the answer is settled,
 * and the recovery settles refunds whose answer never came. The provider here is a naive one: every
 * refund call with a new idempotency key moves money again, so a second refund shows up as such.
 */
type Mode = 'ok' | 'decline' | 'hang_before' | 'hang_after' | 'lose_answer';
const simulated = createSimulatedProvider();
const modes = new Map<string, Mode>();
/** Per payment: the idempotency keys whose refund moved money. */
const moved = new Map<string, string[]>();
const releases: Array<() => void> = [];
const hang = () => new Promise<void>((resolve) => releases.push(resolve));

const provider: PaymentProvider = {
  name: simulated.name,
  charge: (req) => simulated.charge(req),
  retrieve: (id) => simulated.retrieve(id),
  async refund(req) {
    const mode = modes.get(req.paymentId) ?? 'ok';
    if (mode === 'decline') return { outcome: 'failed', failureCode: 'refund_declined' };
    if (mode === 'hang_before') await hang();
    const keys = moved.get(req.paymentId) ?? [];
    // Without a key every call is a new refund.
    const key = req.idempotencyKey ?? `call_${keys.length}`;
    if (!keys.includes(key)) keys.push(key);
    moved.set(req.paymentId, keys);
    if (mode === 'hang_after') await hang();
    if (mode === 'lose_answer') throw new Error('connection reset after the refund was made');
    return { outcome: 'refunded' };
  },
  async retrieveRefund(id) {
    return (moved.get(id)?.length ?? 0) > 0 ? { outcome: 'refunded' } : null;
  },
};

let api: ApiHarness;
/** The default provider timeout (20 s): a request waiting on the provider stands for a dead process. */
let patient: ApiHarness;
let token: string;

beforeAll(async () => {
  [api, patient] = await Promise.all([
    startApi({ providerTimeoutMs: 300 }, { provider }),
    startApi({}, { provider }),
  ]);
  token = await mintToken(`refund_${uniqueSuffix()}`);
});
afterAll(async () => {
  for (const release of releases) release();
  await Promise.all([api?.close(), patient?.close()]);
});

/** A succeeded payment. */
const paid = (on: ApiHarness = api) => confirmedPayment(on, token, { status: 'succeeded' });

const refund = (id: string, key: string, signal?: AbortSignal, on: ApiHarness = api) =>
  fetch(`${on.url}/v1/payments/${id}/refund`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: '{}',
    signal: signal ?? AbortSignal.timeout(10_000),
  });

async function row(id: string, on: ApiHarness = api) {
  const [rows] = await on.db.admin.query('SELECT status, failure_code FROM payments WHERE id = ?', [id]);
  return (rows as { status: string; failure_code: string | null }[])[0];
}

async function until(id: string, status: string, on: ApiHarness = api) {
  const deadline = Date.now() + 5000;
  while ((await row(id, on))?.status !== status) {
    if (Date.now() > deadline) throw new Error(`payment never became ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sweep = (on: ApiHarness = api) =>
  createPaymentRecovery({ pool: on.pool, provider, staleAfterSeconds: 0 }).sweepOnce();

describe('refunds', () => {
  it('a refund the provider declines leaves the payment succeeded with its code; a later one refunds', async () => {
    const id = await paid();
    modes.set(id, 'decline');
    const declined = await refund(id, `r_${uniqueSuffix()}`);
    expect(declined.status).toBe(200);
    expect(paymentResponse.parse(await declined.json()).payment).toMatchObject({
      status: 'succeeded',
      failure_code: 'refund_declined',
    });
    expect(await row(id)).toEqual({ status: 'succeeded', failure_code: 'refund_declined' });

    modes.set(id, 'ok');
    const again = await refund(id, `r_${uniqueSuffix()}`);
    expect(paymentResponse.parse(await again.json()).payment).toMatchObject({
      status: 'refunded',
      failure_code: null,
    });
    expect(moved.get(id)).toHaveLength(1);
  });

  it('asks the provider outside any transaction: no row lock is held, and no answer in time leaves it refunding', async () => {
    const id = await paid();
    modes.set(id, 'hang_before');
    const pending = refund(id, `r_${uniqueSuffix()}`);
    await until(id, 'refunding');
    // The payment row is not locked while the provider is asked.
    const conn = await api.db.admin.getConnection();
    try {
      await conn.beginTransaction();
      await expect(
        conn.query('SELECT id FROM payments WHERE id = ? FOR UPDATE NOWAIT', [id]),
      ).resolves.toBeDefined();
      await conn.rollback();
    } finally {
      conn.release();
    }
    // A second refund of the same payment is refused at once, whatever its key.
    const second = await refund(id, `r_${uniqueSuffix()}`);
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ error: { code: 'payment_invalid_state' } });
    // The provider timeout (300 ms): unknown outcome, the payment stays refunding.
    const res = await pending;
    expect(res.status).toBe(200);
    expect(paymentResponse.parse(await res.json()).payment.status).toBe('refunding');
    // The provider finishes later; the recovery asks it and settles.
    for (const release of releases.splice(0)) release();
    await new Promise((r) => setTimeout(r, 50));
    expect(await sweep()).toContain('refunded');
    expect(await row(id)).toMatchObject({ status: 'refunded' });
    expect(moved.get(id)).toHaveLength(1);
  });

  it('a refund whose answer was lost is never made twice: retries replay or are refused, the recovery settles', async () => {
    const id = await paid();
    modes.set(id, 'lose_answer');
    const key = `r_${uniqueSuffix()}`;
    const first = await refund(id, key);
    expect(first.status).toBe(200);
    expect(paymentResponse.parse(await first.json()).payment.status).toBe('refunding');
    modes.set(id, 'ok');
    const replay = await refund(id, key);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const other = await refund(id, `r_${uniqueSuffix()}`);
    expect(other.status).toBe(409);
    expect(await sweep()).toContain('refunded');
    expect(await row(id)).toMatchObject({ status: 'refunded' });
    expect(moved.get(id)).toHaveLength(1);
    expect((await refund(id, `r_${uniqueSuffix()}`)).status).toBe(409);
    expect(moved.get(id)).toHaveLength(1);
  });

  it('a crash between the phases: the recovery settles from what the provider knows and the key replays it', async () => {
    // Interrupted before the provider got the refund: nothing was refunded, back to succeeded.
    const before = await paid(patient);
    modes.set(before, 'hang_before');
    const beforeKey = `r_${uniqueSuffix()}`;
    const abortBefore = new AbortController();
    refund(before, beforeKey, abortBefore.signal, patient).catch(() => {});
    await until(before, 'refunding', patient);
    abortBefore.abort();
    // Interrupted after the provider made it: refunded.
    const after = await paid(patient);
    modes.set(after, 'hang_after');
    const afterKey = `r_${uniqueSuffix()}`;
    const abortAfter = new AbortController();
    refund(after, afterKey, abortAfter.signal, patient).catch(() => {});
    await until(after, 'refunding', patient);
    while ((moved.get(after)?.length ?? 0) === 0) await new Promise((r) => setTimeout(r, 20));
    abortAfter.abort();

    // Both as a dead process leaves them: refunding, keys in flight (the provider does not answer
    // within this api's 20 s timeout). The recovery comes first.
    expect((await refund(before, beforeKey, undefined, patient)).status).toBe(409);
    const results = await sweep(patient);
    expect(results).toEqual(expect.arrayContaining(['refund_never_received', 'refunded']));
    expect(await row(before, patient)).toEqual({
      status: 'succeeded',
      failure_code: REFUND_INTERRUPTED_FAILURE_CODE,
    });
    expect(await row(after, patient)).toMatchObject({ status: 'refunded' });
    modes.set(before, 'ok');
    modes.set(after, 'ok');
    const replayBefore = await refund(before, beforeKey, undefined, patient);
    expect(paymentResponse.parse(await replayBefore.json()).payment.status).toBe('succeeded');
    const replayAfter = await refund(after, afterKey, undefined, patient);
    expect(paymentResponse.parse(await replayAfter.json()).payment.status).toBe('refunded');
    expect(moved.get(after)).toHaveLength(1);
  });
});
