import type { Pool } from './pool.ts';

/** Small demo catalog; prices in minor units. */
export const demoCatalog = [
  { id: 'pkg_starter', name: 'Starter', description: '100 credits', price_amount: 499, currency: 'EUR' },
  { id: 'pkg_plus', name: 'Plus', description: '500 credits', price_amount: 1999, currency: 'EUR' },
  { id: 'pkg_pro', name: 'Pro', description: '2,000 credits', price_amount: 6999, currency: 'EUR' },
  { id: 'pkg_yen', name: 'Tokyo bundle', description: '1,000 credits', price_amount: 1500, currency: 'JPY' },
] as const;

/**
 * Inserts the demo packages that are missing and leaves every existing row alone: `make up` seeds on
 * each start, and a name, price or flag changed in SQL must survive it. Only a duplicate key is
 * skipped (a no-op update, which writes nothing to the binlog); any other error still fails.
 */
export async function seedCatalog(pool: Pool): Promise<void> {
  for (const p of demoCatalog) {
    await pool.query(
      `INSERT INTO packages (id, name, description, price_amount, currency) VALUES (?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE id = id`,
      [p.id, p.name, p.description, p.price_amount, p.currency],
    );
  }
}
