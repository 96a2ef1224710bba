import type { Pool } from '../../core/db/pool.ts';
import type { PackageView } from '../schemas.ts';
import { toSafeInt } from './rows.ts';
import type { Tx } from './transaction.ts';

type PackageRow = { id: string; name: string; description: string; price_amount: string; currency: string };

const toView = (r: PackageRow): PackageView => ({
  id: r.id,
  name: r.name,
  description: r.description,
  price: { amount: toSafeInt(r.price_amount, 'price_amount'), currency: r.currency },
});

export async function listActivePackages(pool: Pool): Promise<PackageView[]> {
  const [rows] = await pool.query(
    'SELECT id, name, description, price_amount, currency FROM packages WHERE active = 1 ORDER BY price_amount, id',
  );
  return (rows as PackageRow[]).map(toView);
}

/** The active package, read inside the purchase transaction so the price is the catalog's at commit. */
export async function findActivePackage(tx: Tx, id: string): Promise<PackageView | null> {
  const [rows] = await tx.query(
    'SELECT id, name, description, price_amount, currency FROM packages WHERE id = ? AND active = 1 LOCK IN SHARE MODE',
    [id],
  );
  const row = (rows as PackageRow[])[0];
  return row ? toView(row) : null;
}
