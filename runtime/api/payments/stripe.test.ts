import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chargeOutcome, createStripeProvider, refundOutcome } from './stripe.ts';
import { formEncode } from './stripe-client.ts';
import { fromStripeEvent } from './stripe-webhooks.ts';

// Answers in the shapes Stripe's API documents (errors: https://docs.stripe.com/api/errors).
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

type Reply = { status: number; body: unknown; headers?: Record<string, string> };
async function stripeAt(replies: (req: IncomingMessage, n: number) => Reply) {
  let n = 0;
  const seen: { path: string; key: string | undefined }[] = [];
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ path: String(req.url), key: req.headers['idempotency-key'] as string | undefined });
      const r = replies(req, n++);
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = createStripeProvider({
    apiKey: 'sk_test_1',
    apiBase: url,
    timeoutMs: 1000,
    maxRetries: 2,
    retryBaseMs: 1,
  });
  return { provider, seen };
}

const charge = {
  paymentId: 'pay_1',
  amount: 100,
  currency: 'EUR',
  paymentMethod: 'pm_x',
  idempotencyKey: 'ck',
};

describe('Stripe adapter', () => {
  it('a 402 card_error on confirm is a decline with its decline code', async () => {
    const { provider } = await stripeAt((req) =>
      req.url === '/v1/payment_intents'
        ? { status: 200, body: { id: 'pi_1', object: 'payment_intent', status: 'requires_payment_method' } }
        : {
            status: 402,
            body: {
              error: {
                type: 'card_error',
                code: 'card_declined',
                decline_code: 'stolen_card',
                message: 'Your card was declined.',
              },
            },
          },
    );
    expect(await provider.charge(charge)).toEqual({
      outcome: 'failed',
      providerRef: 'pi_1',
      failureCode: 'stolen_card',
    });
  });

  it('retries 5xx and 429 with the same key; Stripe-Should-Retry: false stops it at once', async () => {
    const retried = await stripeAt((_req, n) =>
      n < 2
        ? { status: n === 0 ? 500 : 429, body: { error: { type: 'api_error' } } }
        : { status: 200, body: { id: 'pi_2', status: 'succeeded' } },
    );
    expect(await retried.provider.retrieve('pay_1', 'pi_2')).toMatchObject({ outcome: 'succeeded' });
    expect(retried.seen).toHaveLength(3);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    const refused = await stripeAt(() => ({
      status: 500,
      body: { error: { type: 'api_error', message: 'no' } },
      headers: { 'stripe-should-retry': 'false' },
    }));
    await expect(
      refused.provider.refund({ ...charge, providerRef: 'pi_3', idempotencyKey: 'rk' }),
    ).rejects.toThrow(/500/);
    expect(refused.seen).toEqual([{ path: '/v1/refunds', key: 'rk' }]);
  });

  it('a second refund of a refunded charge is the refund already made', async () => {
    const { provider } = await stripeAt(() => ({
      status: 400,
      body: { error: { type: 'invalid_request_error', code: 'charge_already_refunded' } },
    }));
    expect(await provider.refund({ ...charge, providerRef: 'pi_1', idempotencyKey: 'rk' })).toEqual({
      outcome: 'refunded',
    });
  });

  it('maps PaymentIntent and Refund statuses', () => {
    expect(chargeOutcome({ status: 'requires_confirmation' }, 'pi')).toBeNull();
    expect(chargeOutcome({ status: 'requires_payment_method', last_payment_error: null }, 'pi')).toBeNull();
    expect(chargeOutcome({ status: 'requires_action' }, 'pi')).toMatchObject({
      failureCode: 'authentication_required',
    });
    expect(chargeOutcome({ status: 'requires_capture' }, 'pi')).toMatchObject({ outcome: 'processing' });
    expect(refundOutcome({ status: 'requires_action' })).toEqual({ outcome: 'pending' });
    expect(refundOutcome({ status: 'failed', failure_reason: 'Bad Reason!' })).toEqual({
      outcome: 'failed',
      failureCode: 'refund_failed',
    });
  });

  it('form-encodes nested parameters as Stripe reads them', () => {
    expect(decodeURIComponent(formEncode({ a: 1, m: { k: 'v' }, l: ['x', 'y'], skip: undefined }))).toBe(
      'a=1&m[k]=v&l[0]=x&l[1]=y',
    );
  });

  it('maps Stripe events onto payment events', () => {
    const ev = (type: string, object: Record<string, unknown>) =>
      fromStripeEvent({ id: 'evt_1', type, data: { object } });
    expect(ev('payment_intent.succeeded', { id: 'pi_1' })).toEqual({
      id: 'evt_1',
      type: 'payment.succeeded',
      data: { provider_ref: 'pi_1' },
    });
    expect(
      ev('payment_intent.payment_failed', {
        id: 'pi_1',
        last_payment_error: { code: 'card_declined', decline_code: 'lost_card' },
      }),
    ).toMatchObject({ type: 'payment.failed', data: { failure_code: 'lost_card' } });
    expect(ev('charge.refunded', { payment_intent: 'pi_1', refunded: true })).toMatchObject({
      type: 'payment.refunded',
    });
    expect(ev('charge.refunded', { payment_intent: 'pi_1', refunded: false })).toBeNull();
    expect(ev('customer.created', {})).toBeNull();
  });
});
