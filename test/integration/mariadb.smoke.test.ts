import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('MariaDB test server', () => {
  it('is configured for row-based change capture with GTIDs', async () => {
    const [rows] = await db.admin.query(
      `SELECT @@binlog_format AS format, @@binlog_row_image AS image, @@binlog_row_metadata AS metadata,
              @@gtid_strict_mode AS strict, @@log_bin AS log_bin`,
    );
    expect((rows as Record<string, unknown>[])[0]).toEqual({
      format: 'ROW',
      image: 'FULL',
      metadata: 'FULL',
      strict: '1',
      log_bin: '1',
    });
  });

  it('has the migrated schema and the demo catalog', async () => {
    const [rows] = await db.admin.query('SELECT id, price_amount, currency FROM packages ORDER BY id');
    expect(rows).toContainEqual({ id: 'pkg_plus', price_amount: '1999', currency: 'EUR' });
  });
});
