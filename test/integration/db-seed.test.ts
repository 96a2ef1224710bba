import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCatalog, seedCatalog } from '../../runtime/core/db/seed.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';

// `make up` seeds on every start: the demo catalog must fill what is missing and never undo an edit.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(); // migrated and seeded once
});
afterAll(async () => {
  await db?.drop();
});

async function catalog() {
  const [rows] = await db.admin.query(
    'SELECT id, name, description, price_amount, currency, active FROM packages ORDER BY id',
  );
  return (rows as { id: string; name: string; price_amount: string | number; active: number }[]).map((r) => ({
    ...r,
    price_amount: Number(r.price_amount),
  }));
}

describe('demo catalog seed', () => {
  it('a second seed keeps names, prices and flags changed in SQL, and only adds missing packages', async () => {
    expect((await catalog()).map((p) => p.id)).toEqual(demoCatalog.map((p) => p.id).sort());
    await db.admin.query(
      "UPDATE packages SET name = 'Starter (renamed)', price_amount = 555 WHERE id = 'pkg_starter'",
    );
    await db.admin.query("UPDATE packages SET active = 0 WHERE id = 'pkg_plus'");
    await db.admin.query("DELETE FROM packages WHERE id = 'pkg_yen'");
    const edited = await catalog();

    await seedCatalog(db.admin);

    const after = await catalog();
    expect(after.find((p) => p.id === 'pkg_starter')).toMatchObject({
      name: 'Starter (renamed)',
      price_amount: 555,
    });
    expect(after.find((p) => p.id === 'pkg_plus')).toMatchObject({ active: 0 });
    // The deleted one is missing, so it comes back as seeded; every other row is untouched.
    const yen = demoCatalog.find((p) => p.id === 'pkg_yen');
    expect(after.find((p) => p.id === 'pkg_yen')).toMatchObject({
      name: yen?.name,
      price_amount: yen?.price_amount,
    });
    expect(after.filter((p) => p.id !== 'pkg_yen')).toEqual(edited);
  });
});
