/**
 * The payment provider boundary. `charge` may settle synchronously (succeeded/failed) or leave the
 * payment processing until the provider's webhook arrives.
 */
export type ChargeResult =
  | { outcome: 'succeeded'; providerRef: string }
  | { outcome: 'failed'; providerRef: string; failureCode: string }
  | { outcome: 'processing'; providerRef: string };

/** A refund's outcome: `pending` while the provider still works on it (settled by webhook or a later sweep). */
export type RefundResult =
  | { outcome: 'refunded' }
  | { outcome: 'failed'; failureCode: string }
  | { outcome: 'pending' };

export interface PaymentProvider {
  readonly name: string;
  charge(req: {
    paymentId: string;
    amount: number;
    currency: string;
    paymentMethod: string;
    /** The provider's idempotency key of this confirm (derived from the request's Idempotency-Key). */
    idempotencyKey?: string;
  }): Promise<ChargeResult>;
  /**
   * What the provider knows of the payment's charge (charges are keyed by the payment id), or null
   * when it never received one. Settles payments whose confirm was interrupted (see recovery.ts).
   * `providerRef` is the reference recorded so far, if any.
   */
  retrieve(paymentId: string, providerRef?: string | null): Promise<ChargeResult | null>;
  /**
   * Refunds the payment in full. The provider dedupes by `idempotencyKey` (a retry with the same key is
   * the first refund, never a second one) and refuses a second refund of the same payment.
   */
  refund(req: {
    paymentId: string;
    providerRef: string | null;
    amount: number;
    currency: string;
    idempotencyKey: string;
  }): Promise<RefundResult>;
  /** What the provider knows of the payment's refund, or null when it never received one (recovery.ts). */
  retrieveRefund(paymentId: string, providerRef?: string | null): Promise<RefundResult | null>;
}

/**
 * Built-in simulated provider. Outcomes are chosen by the payment method, deterministically, in the
 * spirit of card networks' test numbers: pm_card_declined and pm_card_insufficient_funds fail,
 * pm_card_async stays processing (settled later by a webhook), anything else succeeds. Refunds
 * succeed. It remembers its charges and refunds in process memory for `retrieve` (a real provider
 * keeps them; after a restart the simulation has forgotten them and answers null).
 */
export function createSimulatedProvider(): PaymentProvider {
  const charges = new Map<string, ChargeResult>();
  const refunds = new Map<string, RefundResult>();
  const outcomeOf = (providerRef: string, paymentMethod: string): ChargeResult => {
    switch (paymentMethod) {
      case 'pm_card_declined':
        return { outcome: 'failed', providerRef, failureCode: 'card_declined' };
      case 'pm_card_insufficient_funds':
        return { outcome: 'failed', providerRef, failureCode: 'insufficient_funds' };
      case 'pm_card_async':
        return { outcome: 'processing', providerRef };
      default:
        return { outcome: 'succeeded', providerRef };
    }
  };
  return {
    name: 'simulated',
    async charge({ paymentId, paymentMethod }) {
      // Keyed by payment like a real provider: a second charge of the same payment is the first one.
      const result = charges.get(paymentId) ?? outcomeOf(`sim_${paymentId}`, paymentMethod);
      charges.set(paymentId, result);
      return result;
    },
    async retrieve(paymentId) {
      return charges.get(paymentId) ?? null;
    },
    async refund({ paymentId }) {
      // One full refund per payment: asking again (any key) answers the refund already made.
      const result = refunds.get(paymentId) ?? { outcome: 'refunded' };
      refunds.set(paymentId, result);
      return result;
    },
    async retrieveRefund(paymentId) {
      return refunds.get(paymentId) ?? null;
    },
  };
}
