import { describe, expect, it } from 'vitest';
import { PAYMENT_STATUSES, type PaymentStatus } from '../../core/db/schema.ts';
import { canTransition } from './state-machine.ts';

const all: readonly PaymentStatus[] = PAYMENT_STATUSES;
const legal = new Set([
  'pending>processing',
  'processing>succeeded',
  'processing>failed',
  'succeeded>refunding',
  'succeeded>refunded',
  'refunding>refunded',
  'refunding>succeeded',
]);

describe('payment state machine', () => {
  it.each(all.flatMap((from) => all.map((to) => [from, to] as const)))('%s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(legal.has(`${from}>${to}`));
  });
});
