import type { CanonicalRow } from './rows.ts';
import type { PackageEntry, PaymentStatus } from './types.ts';

/*
 * The JSON fragments a package entry is assembled from in Redis (scripts.ts), rendered here from
 * canonical rows so numbers and string escaping are exactly JSON.stringify's. Assembled, an entry is
 *   head + payment part + tail + <package name as JSON> + '}}'
 * and parses to a PackageEntry with the keys in the order of `packageEntry` below (the MySQL fallback
 * renders the same order, so both sources answer the same bytes for the same rows).
 */

/** `[head, tail, package id]` of a purchase: head ends at `"payment":`, tail at `"name":`. */
export function purchaseFragments(p: CanonicalRow): [string, string, string] {
  const head =
    `{"purchase_id":${JSON.stringify(p.id)},"user_id":${JSON.stringify(p.user_id)},` +
    `"amount":${JSON.stringify(p.amount)},"currency":${JSON.stringify(p.currency)},` +
    `"created_at":${JSON.stringify(p.created_at)},"updated_at":${JSON.stringify(p.updated_at)},"payment":`;
  const tail = `,"package":{"id":${JSON.stringify(p.package_id)},"name":`;
  return [head, tail, String(p.package_id)];
}

/** The payment's part of its purchase's entry: `{"id":…,"status":…},"paid":<bool>`. */
export function paymentFragment(p: CanonicalRow): string {
  return `{"id":${JSON.stringify(p.id)},"status":${JSON.stringify(p.status)}},"paid":${p.status === 'succeeded'}`;
}

/** The catalog's contribution: the package name as a JSON string. */
export function packageNameFragment(p: CanonicalRow): string {
  return JSON.stringify(p.name);
}

/** The one definition of an entry's shape and key order, from its parts (MySQL fallback, checker). */
export function packageEntry(parts: {
  purchaseId: string;
  userId: string;
  amount: number;
  currency: string;
  createdAt: string;
  updatedAt: string;
  payment: { id: string; status: PaymentStatus } | null;
  packageId: string;
  packageName: string;
}): PackageEntry {
  return {
    purchase_id: parts.purchaseId,
    user_id: parts.userId,
    amount: parts.amount,
    currency: parts.currency,
    created_at: parts.createdAt,
    updated_at: parts.updatedAt,
    payment: parts.payment,
    paid: parts.payment?.status === 'succeeded',
    package: { id: parts.packageId, name: parts.packageName },
  };
}

/**
 * A stored entry completed as the reader completes it (`<package id>\x01<json up to the name>` plus the
 * catalog's name); null when either part is absent. The consistency checker compares this with the
 * entry rendered from MySQL's rows.
 */
export function completeEntry(stored: string | null, catalogName: string | null): string | null {
  if (stored === null || catalogName === null) return null;
  const cut = stored.indexOf('\x01');
  return cut < 0 ? stored : `${stored.slice(cut + 1)}${catalogName}}}`;
}

/** The entry MySQL's rows call for, byte for byte as the apply script renders it. */
export function expectedEntry(
  purchase: CanonicalRow,
  payment: { id: string; status: string } | null,
  packageName: string,
): string {
  const [head, tail] = purchaseFragments(purchase);
  const part = payment ? paymentFragment(payment) : 'null,"paid":false';
  return `${head}${part}${tail}${JSON.stringify(packageName)}}}`;
}
