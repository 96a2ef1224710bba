import type { PaymentStatus } from '../../core/cache/types.ts';

/** Legal payment transitions; everything else is refused with 409. */
const NEXT: Record<PaymentStatus, readonly PaymentStatus[]> = {
  pending: ['processing'],
  processing: ['succeeded', 'failed'],
  succeeded: ['refunded'],
  failed: [],
  refunded: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return NEXT[from].includes(to);
}
