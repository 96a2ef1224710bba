/**
 * Values the database schema constrains, for the code that writes and validates them. The tables
 * themselves are defined by the migrations (runtime/core/db/migrations), which are history and keep
 * the values of their day.
 */

/** The values of `payments.status`, in lifecycle order (the ENUM's own order is 0004's). */
export const PAYMENT_STATUSES = [
  'pending',
  'processing',
  'succeeded',
  'failed',
  'refunding',
  'refunded',
] as const;

export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];
