import type { PaymentStatus } from '../../core/cache/types.ts';

/** Legal payment transitions; everything else is refused with 409. */
const NEXT: Record<PaymentStatus, readonly PaymentStatus[]> = {
  pending: ['processing'],
  processing: ['succeeded', 'failed'],
  // `refunding` is committed before the provider is asked; a refund the provider made on its own
  // (its dashboard) arrives by webhook and goes straight to `refunded`.
  succeeded: ['refunding', 'refunded'],
  failed: [],
  // Back to `succeeded` when the provider refused the refund (nothing was refunded).
  refunding: ['refunded', 'succeeded'],
  refunded: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return NEXT[from].includes(to);
}
