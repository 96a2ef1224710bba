import type { PaymentStatus } from '../../core/cache/types.ts';
import type { Pool } from '../../core/db/pool.ts';
import { newId } from '../../core/ids.ts';
import type { PackageView, PaymentView, PurchaseView } from '../schemas.ts';
import { isoSql, toSafeInt } from './rows.ts';
import type { Tx } from './transaction.ts';

type PaymentRow = {
  id: string;
  purchase_id: string;
  user_id: string;
  amount: string;
  currency: string;
  status: PaymentStatus;
  provider: string;
  provider_ref: string | null;
  failure_code: string | null;
  created_at: string;
  updated_at: string;
};

export type StoredPayment = PaymentView & { provider_ref: string | null };

const PAYMENT_COLUMNS = `id, purchase_id, user_id, amount, currency, status, provider, provider_ref, failure_code,
  ${isoSql('created_at')} AS created_at, ${isoSql('updated_at')} AS updated_at`;

function toPayment(r: PaymentRow): StoredPayment {
  return {
    id: r.id,
    purchase_id: r.purchase_id,
    user_id: r.user_id,
    amount: toSafeInt(r.amount, 'amount'),
    currency: r.currency,
    status: r.status,
    provider: r.provider,
    provider_ref: r.provider_ref,
    failure_code: r.failure_code,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/** The public view: the provider's reference stays internal. */
export function paymentView(p: StoredPayment): PaymentView {
  const { provider_ref: _ref, ...view } = p;
  return view;
}

/** Inserts a purchase and its pending payment; amount and currency come from the catalog row. */
export async function insertPurchase(
  tx: Tx,
  userId: string,
  pkg: PackageView,
  provider: string,
): Promise<{ purchase: PurchaseView; payment: StoredPayment }> {
  const purchaseId = newId('pur');
  const paymentId = newId('pay');
  await tx.query(
    `INSERT INTO purchases (id, user_id, package_id, amount, currency, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
    [purchaseId, userId, pkg.id, pkg.price.amount, pkg.price.currency],
  );
  await tx.query(
    `INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider, created_at, updated_at)
     SELECT ?, id, user_id, amount, currency, 'pending', ?, created_at, created_at FROM purchases WHERE id = ?`,
    [paymentId, provider, purchaseId],
  );
  const [rows] = await tx.query(`SELECT ${isoSql('created_at')} AS created_at FROM purchases WHERE id = ?`, [
    purchaseId,
  ]);
  const createdAt = (rows as { created_at: string }[])[0]?.created_at ?? '';
  const payment = await findPayment(tx, paymentId);
  if (!payment) throw new Error('payment vanished inside its own transaction');
  return {
    purchase: {
      id: purchaseId,
      user_id: userId,
      package_id: pkg.id,
      amount: pkg.price.amount,
      currency: pkg.price.currency,
      created_at: createdAt,
    },
    payment,
  };
}

export async function findPayment(
  db: Pool | Tx,
  id: string,
  forUpdate = false,
): Promise<StoredPayment | null> {
  const [rows] = await db.query(
    `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  const row = (rows as PaymentRow[])[0];
  return row ? toPayment(row) : null;
}

export async function findPaymentByProviderRef(
  tx: Tx,
  provider: string,
  ref: string,
): Promise<StoredPayment | null> {
  const [rows] = await tx.query(
    `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE provider = ? AND provider_ref = ? FOR UPDATE`,
    [provider, ref],
  );
  const row = (rows as PaymentRow[])[0];
  return row ? toPayment(row) : null;
}

/**
 * Moves a payment from `from` to `to` (guarded in SQL as well, so a concurrent change can never be
 * overwritten) and returns the updated row, or null if it was no longer in `from`.
 */
export async function updatePaymentStatus(
  tx: Tx,
  id: string,
  from: PaymentStatus,
  to: PaymentStatus,
  fields: { provider_ref?: string; failure_code?: string | null } = {},
): Promise<StoredPayment | null> {
  const [result] = await tx.query(
    `UPDATE payments SET status = ?, provider_ref = COALESCE(?, provider_ref), failure_code = ?,
       updated_at = UTC_TIMESTAMP(6)
     WHERE id = ? AND status = ?`,
    [to, fields.provider_ref ?? null, fields.failure_code ?? null, id, from],
  );
  if ((result as { affectedRows: number }).affectedRows !== 1) return null;
  return findPayment(tx, id);
}

/** Records the provider's reference of a payment that stays processing (settled later by webhook). */
export async function attachProviderRef(
  tx: Tx,
  id: string,
  providerRef: string,
): Promise<StoredPayment | null> {
  const [result] = await tx.query(
    `UPDATE payments SET provider_ref = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = 'processing'`,
    [providerRef, id],
  );
  if ((result as { affectedRows: number }).affectedRows !== 1) return null;
  return findPayment(tx, id);
}

/**
 * Payments left `status` (`processing` or `refunding`) since at least `staleSeconds` ago, oldest
 * first: confirms or refunds interrupted between their two transactions, provider calls whose outcome
 * was unknown, async charges whose webhook never came. Not locked: the recovery locks and re-checks
 * each one before changing it.
 */
export async function findStale(
  db: Pool,
  status: 'processing' | 'refunding',
  staleSeconds: number,
  limit: number,
): Promise<StoredPayment[]> {
  const [rows] = await db.query(
    `SELECT ${PAYMENT_COLUMNS} FROM payments
     WHERE status = ? AND updated_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND
     ORDER BY updated_at LIMIT ?`,
    [status, staleSeconds, limit],
  );
  return (rows as PaymentRow[]).map(toPayment);
}

/** Resets the age of a payment still in `status` (the provider is still working on it). */
export async function touchPayment(tx: Tx, id: string, status: PaymentStatus): Promise<StoredPayment | null> {
  const [result] = await tx.query(
    'UPDATE payments SET updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND status = ?',
    [id, status],
  );
  if ((result as { affectedRows: number }).affectedRows !== 1) return null;
  return findPayment(tx, id);
}
