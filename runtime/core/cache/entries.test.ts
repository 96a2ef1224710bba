import { describe, expect, it } from 'vitest';
import {
  completeEntry,
  expectedEntry,
  packageEntry,
  packageNameFragment,
  paymentFragment,
  purchaseFragments,
} from './entries.ts';
import { canonicalRow } from './rows.ts';

const purchase = canonicalRow('purchases', {
  id: 'pur_1',
  user_id: 'user "quoted" \\ ü',
  package_id: 'pkg_plus',
  amount: String(Number.MAX_SAFE_INTEGER),
  currency: 'EUR',
  created_at: '2026-11-25 10:00:00.000001',
  updated_at: '2026-11-25 10:00:01.5',
});

/** What the apply script stores and the reader completes, assembled here the same way. */
function assembled(payment: Record<string, string> | null, name: string): string {
  const [head, tail, pkg] = purchaseFragments(purchase);
  const part = payment
    ? paymentFragment(canonicalRow('payments', { ...basePayment, ...payment }))
    : 'null,"paid":false';
  return completeEntry(`${pkg}\x01${head}${part}${tail}`, packageNameFragment({ name })) ?? '';
}
const basePayment = {
  id: 'pay_1',
  purchase_id: 'pur_1',
  user_id: 'u',
  amount: 1,
  currency: 'EUR',
  status: 'pending',
  provider: 'test',
  provider_ref: null,
  failure_code: null,
  created_at: '2026-11-25 10:00:00',
  updated_at: '2026-11-25 10:00:00',
};

describe('package entry fragments', () => {
  it('assemble to exactly JSON.stringify of the entry, escaping and large amounts included', () => {
    for (const [status, paid] of [
      ['succeeded', true],
      ['refunded', false],
      ['refunding', false],
      ['pending', false],
    ] as const) {
      const text = assembled({ id: 'pay_1', status }, 'Plus "Gold" ✓ \n');
      const entry = packageEntry({
        purchaseId: 'pur_1',
        userId: 'user "quoted" \\ ü',
        amount: Number.MAX_SAFE_INTEGER,
        currency: 'EUR',
        createdAt: '2026-11-25T10:00:00.000001Z',
        updatedAt: '2026-11-25T10:00:01.500000Z',
        payment: { id: 'pay_1', status },
        packageId: 'pkg_plus',
        packageName: 'Plus "Gold" ✓ \n',
      });
      expect(text).toBe(JSON.stringify(entry));
      expect(entry.paid).toBe(paid);
    }
  });

  it('render a purchase without payment as payment null, not paid', () => {
    const parsed = JSON.parse(assembled(null, 'Plus'));
    expect(parsed).toMatchObject({ payment: null, paid: false, package: { id: 'pkg_plus', name: 'Plus' } });
  });

  it('agree with the checker’s expectation, and a missing part completes to null', () => {
    const text = assembled({ id: 'pay_1', status: 'failed' }, 'Plus');
    expect(expectedEntry(purchase, { id: 'pay_1', status: 'failed' }, 'Plus')).toBe(text);
    expect(completeEntry(null, '"Plus"')).toBeNull();
    expect(completeEntry('pkg_plus\x01{', null)).toBeNull();
  });
});
