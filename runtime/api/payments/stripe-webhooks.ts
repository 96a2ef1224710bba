import { z } from 'zod';
import type { WebhookEvent } from './webhooks.ts';

/** A Stripe event as delivered (`Stripe-Signature` checked first); only what the mapping reads. */
export const stripeEventBody = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
  type: z.string().min(1).max(128),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

export type StripeEvent = z.infer<typeof stripeEventBody>;

const REF = /^[A-Za-z0-9_]{1,128}$/;
const CODE = /^[a-z0-9_]{1,64}$/;

const refOf = (v: unknown) => (typeof v === 'string' && REF.test(v) ? v : null);

/**
 * The payment event a Stripe event means, or null for events this api does not act on (answered 2xx,
 * so Stripe does not redeliver them). The PaymentIntent id is the payment's provider reference.
 */
export function fromStripeEvent(event: StripeEvent): WebhookEvent | null {
  const o = event.data.object;
  switch (event.type) {
    case 'payment_intent.succeeded': {
      const ref = refOf(o.id);
      return ref ? { id: event.id, type: 'payment.succeeded', data: { provider_ref: ref } } : null;
    }
    case 'payment_intent.payment_failed': {
      const ref = refOf(o.id);
      if (!ref) return null;
      const e = (o.last_payment_error ?? {}) as { decline_code?: unknown; code?: unknown };
      const code = [e.decline_code, e.code].find((c): c is string => typeof c === 'string' && CODE.test(c));
      return {
        id: event.id,
        type: 'payment.failed',
        data: { provider_ref: ref, failure_code: code ?? 'card_declined' },
      };
    }
    case 'charge.refunded': {
      // Full refunds only: this api refunds payments in full.
      const ref = refOf(o.payment_intent);
      return ref && o.refunded === true
        ? { id: event.id, type: 'payment.refunded', data: { provider_ref: ref } }
        : null;
    }
    default:
      return null;
  }
}
