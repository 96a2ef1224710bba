import { createHash } from 'node:crypto';
import { type StoredPayment, updatePaymentStatus } from '../store/payments.ts';
import type { Tx } from '../store/transaction.ts';
import type { RefundResult } from './provider.ts';

// Refunds are two phases like confirm (service.ts): `refunding` is committed, the provider is asked
// outside any transaction, then its answer is settled here, by the request or by the recovery.

/**
 * The provider's idempotency key of a refund: one per (user, Idempotency-Key, payment), so a retry of
 * the request is the same refund at the provider; hashed to stay within providers' key lengths.
 */
export function providerRefundKey(scope: { userId: string; key: string }, paymentId: string): string {
  const h = createHash('sha256').update(`${scope.userId}\0${scope.key}\0${paymentId}`).digest('hex');
  return `refund_${h.slice(0, 40)}`;
}

/** The same for a confirm: one provider key per (user, Idempotency-Key, payment). */
export function providerChargeKey(scope: { userId: string; key: string }, paymentId: string): string {
  const h = createHash('sha256').update(`${scope.userId}\0${scope.key}\0${paymentId}\0confirm`).digest('hex');
  return `confirm_${h.slice(0, 40)}`;
}

/**
 * Moves a `refunding` payment as the provider answered: refunded; back to succeeded with the
 * provider's failure code (nothing was refunded); unchanged when the outcome is unknown or still
 * pending. Null when it was not `refunding` any more (a webhook or the recovery was first).
 */
export async function settleRefund(
  tx: Tx,
  id: string,
  outcome: RefundResult | null,
): Promise<StoredPayment | null> {
  if (outcome === null || outcome.outcome === 'pending') return null;
  if (outcome.outcome === 'refunded') return updatePaymentStatus(tx, id, 'refunding', 'refunded');
  return updatePaymentStatus(tx, id, 'refunding', 'succeeded', { failure_code: outcome.failureCode });
}
