import type { ChargeResult, PaymentProvider, RefundResult } from './provider.ts';
import {
  createStripeClient,
  StripeApiError,
  type StripeClient,
  type StripeClientSettings,
} from './stripe-client.ts';

/**
 * Stripe's PaymentIntents flow behind the provider boundary. One PaymentIntent per payment (its
 * creation's Idempotency-Key is the payment id, and its metadata names the payment so that a payment
 * whose confirm was interrupted before the reference was recorded is found again); the confirm and
 * the refund carry the keys the api derives from the client's Idempotency-Key. Whatever cannot be
 * told from an answer (no answer, an unexpected error) is thrown: the payment stays processing and
 * the recovery asks `retrieve` later.
 */
export function createStripeProvider(
  settings: StripeClientSettings | { client: StripeClient },
): PaymentProvider {
  const stripe = 'client' in settings ? settings.client : createStripeClient(settings);

  /** The payment's PaymentIntent: by reference, else by the payment id in its metadata (null: none). */
  async function findIntent(
    paymentId: string,
    providerRef: string | null | undefined,
  ): Promise<Record<string, unknown> | null> {
    if (providerRef) return stripe.get(`/v1/payment_intents/${encodeURIComponent(providerRef)}`);
    const found = await stripe.get('/v1/payment_intents/search', {
      query: `metadata['payment_id']:'${paymentId}'`,
      limit: 1,
    });
    const data = Array.isArray(found.data) ? (found.data as Record<string, unknown>[]) : [];
    return data[0] ?? null;
  }

  return {
    name: 'stripe',

    async charge({ paymentId, amount, currency, paymentMethod, idempotencyKey }) {
      const intent = await stripe.post(
        '/v1/payment_intents',
        {
          amount,
          currency: currency.toLowerCase(),
          metadata: { payment_id: paymentId },
          // Confirmed server-side: no redirect-based methods (there is no return_url to come back to).
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        },
        `create_${paymentId}`,
      );
      const id = String(intent.id);
      try {
        const confirmed = await stripe.post(
          `/v1/payment_intents/${encodeURIComponent(id)}/confirm`,
          { payment_method: paymentMethod },
          idempotencyKey ?? `confirm_${paymentId}`,
        );
        return chargeOutcome(confirmed, id) ?? { outcome: 'processing', providerRef: id };
      } catch (err) {
        const declined = declineOf(err, id);
        if (declined) return declined;
        throw err;
      }
    },

    async retrieve(paymentId, providerRef) {
      const intent = await findIntent(paymentId, providerRef);
      if (!intent) return null;
      // Created but never confirmed (or confirmed without an attempt): nothing was charged.
      return chargeOutcome(intent, String(intent.id));
    },

    async refund({ paymentId, providerRef, idempotencyKey }) {
      const ref = providerRef ?? (await findIntent(paymentId, null))?.id;
      if (typeof ref !== 'string') return { outcome: 'failed', failureCode: 'no_provider_charge' };
      try {
        const refund = await stripe.post(
          '/v1/refunds',
          { payment_intent: ref, metadata: { payment_id: paymentId } },
          idempotencyKey,
        );
        return refundOutcome(refund);
      } catch (err) {
        // Stripe refuses a second refund of a fully refunded charge: that refund is the one made.
        if (err instanceof StripeApiError && err.code === 'charge_already_refunded')
          return { outcome: 'refunded' };
        throw err;
      }
    },

    async retrieveRefund(paymentId, providerRef) {
      const ref = providerRef ?? (await findIntent(paymentId, null))?.id;
      if (typeof ref !== 'string') return null;
      const list = await stripe.get('/v1/refunds', { payment_intent: ref, limit: 1 });
      const data = Array.isArray(list.data) ? (list.data as Record<string, unknown>[]) : [];
      return data[0] ? refundOutcome(data[0]) : null;
    },
  };
}

/** What a PaymentIntent says of its charge; null when no charge was attempted. */
export function chargeOutcome(intent: Record<string, unknown>, providerRef: string): ChargeResult | null {
  switch (intent.status) {
    case 'succeeded':
      return { outcome: 'succeeded', providerRef };
    case 'processing':
    case 'requires_capture':
      return { outcome: 'processing', providerRef };
    case 'requires_action':
      // 3-D Secure and the like need the customer, who is not part of a server-side confirm.
      return { outcome: 'failed', providerRef, failureCode: 'authentication_required' };
    case 'canceled':
      return { outcome: 'failed', providerRef, failureCode: 'canceled' };
    case 'requires_payment_method': {
      // Back here after a failed attempt (its error kept as last_payment_error), or never attempted.
      const failure = intent.last_payment_error as Record<string, unknown> | null | undefined;
      if (!failure) return null;
      return { outcome: 'failed', providerRef, failureCode: failureCodeOf(failure) };
    }
    default:
      // requires_confirmation: created, never confirmed.
      return null;
  }
}

const FAILURE_CODE = /^[a-z0-9_]{1,64}$/;

function failureCodeOf(e: { decline_code?: unknown; code?: unknown }): string {
  for (const c of [e.decline_code, e.code]) if (typeof c === 'string' && FAILURE_CODE.test(c)) return c;
  return 'card_declined';
}

/** A confirm Stripe refused for the card's sake (402 card_error, or the payment method being invalid). */
function declineOf(err: unknown, providerRef: string): ChargeResult | null {
  if (!(err instanceof StripeApiError)) return null;
  if (err.type === 'card_error') {
    return {
      outcome: 'failed',
      providerRef,
      failureCode: failureCodeOf({ decline_code: err.declineCode, code: err.code }),
    };
  }
  if (err.status === 400 && err.param === 'payment_method') {
    return { outcome: 'failed', providerRef, failureCode: failureCodeOf({ code: err.code }) };
  }
  return null;
}

export function refundOutcome(refund: Record<string, unknown>): RefundResult {
  switch (refund.status) {
    case 'succeeded':
      return { outcome: 'refunded' };
    case 'failed':
    case 'canceled': {
      const reason = refund.failure_reason;
      return {
        outcome: 'failed',
        failureCode: typeof reason === 'string' && FAILURE_CODE.test(reason) ? reason : 'refund_failed',
      };
    }
    default:
      // pending, requires_action: settled by webhook or a later sweep.
      return { outcome: 'pending' };
  }
}
