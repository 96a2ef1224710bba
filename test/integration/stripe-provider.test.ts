// The Stripe adapter against stripe-mock (Stripe's official mock of its API): the requests it sends are
// validated against Stripe's OpenAPI spec by the real server; each outcome is a server of its own.
import { createServer, type Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentRecovery } from '../../runtime/api/payments/recovery.ts';
import { createStripeProvider } from '../../runtime/api/payments/stripe.ts';
import { StripeUnavailableError } from '../../runtime/api/payments/stripe-client.ts';
import { STRIPE_SIGNATURE_HEADER } from '../../runtime/api/payments/webhooks.ts';
import { createPurchaseResponse } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { confirmedPayment, paymentRow, postWebhook, signWebhook, WEBHOOKS } from '../support/payments.ts';
import { type StripeMock, startStripeMock } from '../support/stripe-mock.ts';

type Sent = {
  method: string;
  path: string;
  body: URLSearchParams;
  key: string | null;
  echoedKey: string | null;
};

/** fetch, recording what went to stripe-mock and the Idempotency-Key it echoed back. */
function recordingFetch(log: Sent[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const entry: Sent = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      body: new URLSearchParams(typeof init?.body === 'string' ? init.body : url.search),
      key: headers.get('idempotency-key'),
      echoedKey: null,
    };
    log.push(entry);
    const res = await fetch(input, init);
    entry.echoedKey = res.headers.get('idempotency-key');
    return res;
  };
}

/**
 * A loopback proxy in front of stripe-mock that swallows the first `hang` connections (never answers,
 * as a provider that received the request and then went silent); every later one is passed through.
 */
async function hangingProxy(target: string, hang: number) {
  const { port: targetPort } = new URL(target);
  const held: Socket[] = [];
  let seen = 0;
  const server: Server = createServer((client) => {
    seen++;
    if (seen <= hang) {
      held.push(client);
      client.on('error', () => {});
      return;
    }
    const upstream = new Socket();
    upstream.connect(Number(targetPort), '127.0.0.1');
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    connections: () => seen,
    close: async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
const stripeSettings = (apiBase: string, log: Sent[] = []) => ({
  apiKey: 'sk_test_123',
  apiBase,
  timeoutMs: 1_500,
  maxRetries: 2,
  retryBaseMs: 50,
  fetch: recordingFetch(log),
});

let succeeding: StripeMock;
let declining: StripeMock;
let processing: StripeMock;
let servers: StripeMock[] = [];

beforeAll(async () => {
  const name = uniqueSuffix();
  const started = await Promise.allSettled([
    startStripeMock(`ok-${name}`, {
      paymentIntent: { status: 'succeeded', last_payment_error: null },
      refund: { status: 'succeeded' },
    }),
    startStripeMock(`declined-${name}`, {
      paymentIntent: {
        status: 'requires_payment_method',
        last_payment_error: {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'insufficient_funds',
          message: 'Your card has insufficient funds.',
        },
      },
      refund: { status: 'failed', failure_reason: 'expired_or_canceled_card' },
    }),
    startStripeMock(`processing-${name}`, {
      paymentIntent: { status: 'processing', last_payment_error: null },
      refund: { status: 'pending' },
    }),
  ]);
  // Those that started are stopped in afterAll even when another one failed.
  servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  [succeeding, declining, processing] = servers as [StripeMock, StripeMock, StripeMock];
}, 180_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

const paymentId = () => `pay_${uniqueSuffix()}`;

describe('Stripe adapter against stripe-mock', () => {
  it('confirm: creates the PaymentIntent and confirms it, each with its idempotency key passed through', async () => {
    const sent: Sent[] = [];
    const stripe = createStripeProvider(stripeSettings(succeeding.url, sent));
    const id = paymentId();
    const result = await stripe.charge({
      paymentId: id,
      amount: 1999,
      currency: 'EUR',
      paymentMethod: 'pm_card_visa',
      idempotencyKey: 'confirm_key_1',
    });
    expect(result).toMatchObject({ outcome: 'succeeded', providerRef: expect.stringMatching(/^pi_/) });
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /v1/payment_intents',
      `POST /v1/payment_intents/${result.providerRef}/confirm`,
    ]);
    const [create, confirm] = sent;
    expect(create?.body.get('amount')).toBe('1999');
    expect(create?.body.get('currency')).toBe('eur');
    expect(create?.body.get('metadata[payment_id]')).toBe(id);
    expect(create?.echoedKey).toBe(`create_${id}`);
    expect(confirm?.body.get('payment_method')).toBe('pm_card_visa');
    expect(confirm?.echoedKey).toBe('confirm_key_1');
  });

  it('decline: a PaymentIntent back at requires_payment_method with its error fails with the decline code', async () => {
    const stripe = createStripeProvider(stripeSettings(declining.url));
    const result = await stripe.charge({
      paymentId: paymentId(),
      amount: 500,
      currency: 'USD',
      paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds',
    });
    expect(result).toMatchObject({ outcome: 'failed', failureCode: 'insufficient_funds' });
  });

  it('processing: an asynchronous charge stays processing with its reference', async () => {
    const stripe = createStripeProvider(stripeSettings(processing.url));
    const result = await stripe.charge({
      paymentId: paymentId(),
      amount: 500,
      currency: 'USD',
      paymentMethod: 'pm_card_visa',
    });
    expect(result).toMatchObject({ outcome: 'processing', providerRef: expect.stringMatching(/^pi_/) });
  });

  it('retrieve: by the recorded reference, and by the payment id when none was recorded', async () => {
    const sent: Sent[] = [];
    const stripe = createStripeProvider(stripeSettings(succeeding.url, sent));
    const id = paymentId();
    expect(await stripe.retrieve(id, 'pi_known')).toEqual({ outcome: 'succeeded', providerRef: 'pi_known' });
    expect(sent.at(-1)).toMatchObject({ method: 'GET', path: '/v1/payment_intents/pi_known' });
    const found = await stripe.retrieve(id, null);
    expect(found).toMatchObject({ outcome: 'succeeded', providerRef: expect.stringMatching(/^pi_/) });
    expect(sent.at(-1)?.path).toBe('/v1/payment_intents/search');
    expect(sent.at(-1)?.body.get('query')).toBe(`metadata['payment_id']:'${id}'`);
    // A declined PaymentIntent reads as the failed charge.
    const declined = await createStripeProvider(stripeSettings(declining.url)).retrieve(id, 'pi_x');
    expect(declined).toEqual({ outcome: 'failed', providerRef: 'pi_x', failureCode: 'insufficient_funds' });
  });

  it('refund: refunds the PaymentIntent with the refund key passed through; a refused one fails with its reason', async () => {
    const sent: Sent[] = [];
    const stripe = createStripeProvider(stripeSettings(succeeding.url, sent));
    const req = {
      paymentId: paymentId(),
      providerRef: 'pi_refund_me',
      amount: 1999,
      currency: 'EUR',
      idempotencyKey: 'refund_key_1',
    };
    expect(await stripe.refund(req)).toEqual({ outcome: 'refunded' });
    expect(sent.at(-1)).toMatchObject({ method: 'POST', path: '/v1/refunds', echoedKey: 'refund_key_1' });
    expect(sent.at(-1)?.body.get('payment_intent')).toBe('pi_refund_me');
    expect(await stripe.retrieveRefund(req.paymentId, req.providerRef)).toEqual({ outcome: 'refunded' });
    expect(await createStripeProvider(stripeSettings(declining.url)).refund(req)).toEqual({
      outcome: 'failed',
      failureCode: 'expired_or_canceled_card',
    });
    expect(await createStripeProvider(stripeSettings(processing.url)).refund(req)).toEqual({
      outcome: 'pending',
    });
  });

  it('a request that timed out is retried with the same idempotency key', async () => {
    const proxy = await hangingProxy(succeeding.url, 1);
    try {
      const sent: Sent[] = [];
      const stripe = createStripeProvider({ ...stripeSettings(proxy.url, sent), timeoutMs: 500 });
      const id = paymentId();
      const result = await stripe.charge({
        paymentId: id,
        amount: 700,
        currency: 'EUR',
        paymentMethod: 'pm_card_visa',
        idempotencyKey: 'confirm_retry',
      });
      expect(result.outcome).toBe('succeeded');
      const creates = sent.filter((s) => s.path === '/v1/payment_intents');
      // The first attempt got no answer; the second reached Stripe with the very same key.
      expect(creates.map((s) => s.key)).toEqual([`create_${id}`, `create_${id}`]);
      expect(creates.map((s) => s.echoedKey)).toEqual([null, `create_${id}`]);
    } finally {
      await proxy.close();
    }
  });

  it('invalid credentials are refused at once, not retried', async () => {
    const sent: Sent[] = [];
    const stripe = createStripeProvider({ ...stripeSettings(succeeding.url, sent), apiKey: 'not-a-key' });
    await expect(stripe.retrieve(paymentId(), 'pi_1')).rejects.toThrow(/stripe answered 401/);
    expect(sent).toHaveLength(1);
  });
});

describe('Stripe behind the api', () => {
  let api: ApiHarness;
  let token: string;
  let proxy: Awaited<ReturnType<typeof hangingProxy>>;
  beforeAll(async () => {
    proxy = await hangingProxy(succeeding.url, 1_000_000);
    // Every answer lost on the way back: the outcome of each confirm is unknown.
    const lost = createStripeProvider({ ...stripeSettings(proxy.url), timeoutMs: 300, maxRetries: 1 });
    api = await startApi({ providerTimeoutMs: 5_000 }, { provider: lost });
    token = await mintToken(`stripe_${uniqueSuffix()}`);
  });
  afterAll(async () => {
    await api?.close();
    await proxy?.close();
  });

  async function purchase(): Promise<string> {
    const created = await call(api.url, 'POST', '/v1/purchases', {
      token,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    return createPurchaseResponse.parse(created.body).payment.id;
  }

  it('a confirm whose answer never came stays processing, and the recovery settles it from Stripe', async () => {
    const id = await purchase();
    const confirmed = await call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
      token,
      body: { payment_method: 'pm_card_visa' },
      headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
    });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ payment: { id, status: 'processing', provider: 'stripe' } });
    expect(proxy.connections()).toBeGreaterThanOrEqual(2); // the first attempt and its retry

    // Stripe answers again: the recovery finds the PaymentIntent by the payment id in its metadata.
    const recovery = createPaymentRecovery({
      pool: api.pool,
      provider: createStripeProvider(stripeSettings(succeeding.url)),
      staleAfterSeconds: 0,
    });
    expect(await recovery.sweepOnce()).toContain('succeeded');
    const [rows] = await api.db.admin.query('SELECT status, provider_ref FROM payments WHERE id = ?', [id]);
    expect((rows as { status: string; provider_ref: string }[])[0]).toMatchObject({
      status: 'succeeded',
      provider_ref: expect.stringMatching(/^pi_/),
    });
  });

  it('the adapter alone: no answer at all is an unknown outcome (an error), never a failure', async () => {
    const lost = createStripeProvider({ ...stripeSettings(proxy.url), timeoutMs: 200, maxRetries: 1 });
    await expect(
      lost.charge({ paymentId: paymentId(), amount: 1, currency: 'EUR', paymentMethod: 'pm_card_visa' }),
    ).rejects.toBeInstanceOf(StripeUnavailableError);
  });
});

describe('Stripe webhooks (Stripe-Signature)', () => {
  let api: ApiHarness;
  let token: string;
  beforeAll(async () => {
    api = await startApi({}, { provider: createStripeProvider(stripeSettings(processing.url)) });
    token = await mintToken(`stripewh_${uniqueSuffix()}`);
  });
  afterAll(async () => {
    await api?.close();
  });

  /** A payment Stripe left processing, and its PaymentIntent id. */
  async function processingPayment(): Promise<{ id: string; ref: string }> {
    const id = await confirmedPayment(api, token, { paymentMethod: 'pm_card_visa', status: 'processing' });
    return { id, ref: (await paymentRow(api, id)).providerRef };
  }

  const event = (ref: string) =>
    JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      data: { object: { id: ref, object: 'payment_intent', status: 'succeeded' } },
    });
  const send = (body: string, signature: string) => postWebhook(api, WEBHOOKS.stripe, body, signature);
  const statusOf = async (id: string) => (await paymentRow(api, id)).status;

  it('a valid signature settles the payment', async () => {
    const { id, ref } = await processingPayment();
    const body = event(ref);
    const res = await send(body, signWebhook(body));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, duplicate: false, applied: true });
    expect(await statusOf(id)).toBe('succeeded');
  });

  it('a tampered body is refused and changes nothing', async () => {
    const { id, ref } = await processingPayment();
    const body = event(ref);
    const signature = signWebhook(body);
    const res = await send(
      body.replace('payment_intent.succeeded', 'payment_intent.payment_failed'),
      signature,
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'signature_invalid', param: STRIPE_SIGNATURE_HEADER } });
    expect(await statusOf(id)).toBe('processing');
  });

  it('a signature older than the 300 s tolerance is refused', async () => {
    const { id, ref } = await processingPayment();
    const body = event(ref);
    const res = await send(body, signWebhook(body, -301));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'signature_expired' } });
    expect(await statusOf(id)).toBe('processing');
    // Within the tolerance it is applied.
    const fresh = await send(body, signWebhook(body, -290));
    expect(fresh.body).toMatchObject({ applied: true });
  });

  it('events the api does not act on are acknowledged', async () => {
    const body = JSON.stringify({
      id: `evt_${uniqueSuffix()}`,
      type: 'customer.created',
      data: { object: {} },
    });
    const res = await send(body, signWebhook(body));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ applied: false });
  });
});
