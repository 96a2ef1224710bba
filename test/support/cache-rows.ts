import type { CanonicalRow } from '../../runtime/core/cache/rows.ts';
import { canonicalRow } from '../../runtime/core/cache/rows.ts';
import type { RowChange } from '../../runtime/core/cache/writer.ts';
import { versionOf } from '../../runtime/core/position.ts';

// Canonical rows and row changes for suites that drive the cache writer directly.

export const v = (seq: number, row = 0) => versionOf(BigInt(seq), row);
export const at = (sec: number, micros = 0) =>
  `2026-11-25 10:${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}.${String(micros).padStart(6, '0')}`;

export const pkg = (id: string, name: string) =>
  canonicalRow('packages', {
    id,
    name,
    description: '',
    price_amount: 499,
    currency: 'EUR',
    active: 1,
    created_at: at(0),
    updated_at: at(0),
  });
export const purchase = (id: string, user: string, created: string, packageId = 'pkg_a') =>
  canonicalRow('purchases', {
    id,
    user_id: user,
    package_id: packageId,
    amount: '499',
    currency: 'EUR',
    created_at: created,
    updated_at: created,
  });
export const payment = (id: string, purchaseId: string, user: string, status: string) =>
  canonicalRow('payments', {
    id,
    purchase_id: purchaseId,
    user_id: user,
    amount: 499,
    currency: 'EUR',
    status,
    provider: 'test',
    provider_ref: null,
    failure_code: null,
    created_at: at(1),
    updated_at: at(1),
  });

export const upsert = (table: RowChange['table'], row: CanonicalRow, version: string): RowChange => ({
  table,
  id: String(row.id),
  version,
  after: row,
  before: null,
});
export const remove = (table: RowChange['table'], row: CanonicalRow, version: string): RowChange => ({
  table,
  id: String(row.id),
  version,
  after: null,
  before: row,
});
