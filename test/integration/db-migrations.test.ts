import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrator } from '../../runtime/core/db/migrate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { newId } from '../../runtime/core/ids.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';

// 0003 (identifiers in binary collation) on a database that 0001/0002 migrated and that holds rows,
// as a live deployment would have it; real MariaDB.

const TABLES = ['packages', 'purchases', 'payments', 'idempotency_keys', 'webhook_events'] as const;
/** Text that is not an identifier keeps the tables' default collation. */
const NOT_IDENTIFIERS = new Set([
  'packages.name',
  'packages.description',
  'packages.currency',
  'purchases.currency',
  'payments.currency',
  'payments.failure_code',
  'payments.status', // an ENUM: values are its own list, not identifiers
]);

let root: Pool;
let db: Pool;
const name = `payments_t_${uniqueSuffix()}`;

beforeAll(async () => {
  root = createPool(requireEnv('MYSQL_ADMIN_URL'), { connectionLimit: 1 });
  await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const u = new URL(requireEnv('MYSQL_ADMIN_URL'));
  u.pathname = `/${name}`;
  db = createPool(u.toString(), { connectionLimit: 6 });
});
afterAll(async () => {
  await db?.end();
  await root?.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await root?.end();
});

async function all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await db.query(sql, params);
  return rows as T[];
}

async function snapshot() {
  const out: Record<string, unknown> = {};
  for (const t of TABLES) out[t] = await all(`SELECT * FROM \`${t}\` ORDER BY 1, 2`);
  return out;
}

async function indexes() {
  return all(
    `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    [name],
  );
}

async function foreignKeys() {
  return all(
    `SELECT k.CONSTRAINT_NAME, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME
       FROM information_schema.KEY_COLUMN_USAGE k
      WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.CONSTRAINT_NAME`,
    [name],
  );
}

async function textColumns() {
  return all<{ col: string; coll: string }>(
    `SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS col, COLLATION_NAME AS coll FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'schema_migrations' AND COLLATION_NAME IS NOT NULL
      ORDER BY 1`,
    [name],
  );
}

/** Rows a running system has: two users whose ids differ only in case, their payments, keys, events. */
async function seedRows(): Promise<{ purchases: string[] }> {
  await db.query(
    `INSERT INTO packages (id, name, description, price_amount, currency) VALUES
       ('pkg_one', 'One', 'first', 100, 'EUR'), ('pkg_two', 'Two', 'second', 200, 'EUR')`,
  );
  const purchases: string[] = [];
  for (const [i, user] of ['Alice', 'alice', 'bob'].entries()) {
    const id = newId('pur');
    purchases.push(id);
    await db.query(
      "INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES (?, ?, 'pkg_one', 100, 'EUR')",
      [id, user],
    );
    await db.query(
      `INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider, provider_ref)
       VALUES (?, ?, ?, 100, 'EUR', 'processing', 'simulated', ?)`,
      [newId('pay'), id, user, `ref_${user}_${id}`],
    );
    await db.query(
      `INSERT INTO idempotency_keys (user_id, idem_key, request_method, request_path, request_hash,
         response_status, response_body, expires_at)
       VALUES (?, ?, 'POST', '/v1/purchases', REPEAT('a', 64), 201, '{}', UTC_TIMESTAMP(6) + INTERVAL 1 DAY)`,
      [user, `Key-${i}`],
    );
  }
  await db.query(
    "INSERT INTO webhook_events (provider, event_id) VALUES ('simulated', 'evt_One'), ('simulated', 'evt_two')",
  );
  return { purchases };
}

describe('0003: identifiers in binary collation', () => {
  it('converts a database migrated by 0001/0002 with rows in it, keeping rows, indexes and foreign keys', async () => {
    await migrator(db).up({ to: '0002_payments_status_index' });
    await seedRows();
    // The defect on the old schema: `alice` matches Alice's rows.
    expect(await all("SELECT id FROM purchases WHERE user_id = 'alice'")).toHaveLength(2);
    const before = { rows: await snapshot(), indexes: await indexes(), fks: await foreignKeys() };
    expect(before.fks).toHaveLength(2);

    // Writes keep arriving while it runs (they wait for each table's copy, none fails).
    let writing = true;
    let written = 0;
    const failures: unknown[] = [];
    const writer = (async () => {
      while (writing) {
        const id = newId('pur');
        try {
          await db.query(
            "INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES (?, 'carol', 'pkg_two', 200, 'EUR')",
            [id],
          );
          written++;
        } catch (err) {
          failures.push(err);
        }
      }
    })();
    let applied: string[];
    try {
      // 0003 alone, as the deployment that had 0001/0002 gets it; later migrations are not its subject.
      applied = (await migrator(db).up({ to: '0003_identifiers_binary_collation' })).map((m) => m.name);
    } finally {
      // Also on failure: a writer left running against a closed pool spins without yielding.
      writing = false;
      await writer;
    }
    expect(applied).toEqual(['0003_identifiers_binary_collation']);
    expect(failures).toEqual([]);
    expect(written).toBeGreaterThan(0);

    const after = { rows: await snapshot(), indexes: await indexes(), fks: await foreignKeys() };
    const carol = await all<{ id: string }>("SELECT id FROM purchases WHERE user_id = 'carol'");
    expect(carol).toHaveLength(written);
    const rows = after.rows as Record<string, { user_id?: string }[]>;
    rows.purchases = (rows.purchases ?? []).filter((r) => r.user_id !== 'carol');
    expect(after.rows).toEqual(before.rows);
    expect(after.indexes).toEqual(before.indexes);
    expect(after.fks).toEqual(before.fks);

    // Exact now: each user has their own row, and values differing only in case are distinct.
    expect(await all("SELECT id FROM purchases WHERE user_id = 'alice'")).toHaveLength(1);
    await db.query(
      `INSERT INTO idempotency_keys (user_id, idem_key, request_method, request_path, request_hash,
         response_status, response_body, expires_at)
       VALUES ('alice', 'key-1', 'POST', '/v1/purchases', REPEAT('b', 64), 201, '{}', UTC_TIMESTAMP(6))`,
    );
    await db.query("INSERT INTO webhook_events (provider, event_id) VALUES ('simulated', 'evt_one')");
    await db.query("INSERT INTO webhook_events (provider, event_id) VALUES ('Simulated', 'evt_One')");
    await db.query(`UPDATE payments SET provider_ref = LOWER(provider_ref) WHERE user_id = 'alice'`);
    expect(await all("SELECT id FROM payments WHERE provider_ref LIKE 'ref_alice_%'")).toHaveLength(1);

    // The foreign keys are back and enforce exact references.
    await expect(
      db.query(
        "INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES (?, 'dave', 'PKG_ONE', 1, 'EUR')",
        [newId('pur')],
      ),
    ).rejects.toMatchObject({ code: 'ER_NO_REFERENCED_ROW_2' });
    await expect(
      db.query(
        `INSERT INTO payments (id, purchase_id, user_id, amount, currency, provider)
         VALUES (?, ?, 'dave', 1, 'EUR', 'simulated')`,
        [newId('pay'), newId('pur').toLowerCase()],
      ),
    ).rejects.toMatchObject({ code: 'ER_NO_REFERENCED_ROW_2' });
  });

  it('leaves every identifier column binary and other text in the default collation', async () => {
    const cols = await textColumns();
    expect(cols.length).toBeGreaterThan(NOT_IDENTIFIERS.size);
    for (const { col, coll } of cols) {
      expect({ col, coll }).toEqual({
        col,
        coll: NOT_IDENTIFIERS.has(col) ? 'utf8mb4_unicode_ci' : 'utf8mb4_bin',
      });
    }
  });

  it('down stops with a duplicate-key error where rows differ only in case, losing none', async () => {
    const keys = await all('SELECT user_id, idem_key FROM idempotency_keys ORDER BY 1, 2');
    await expect(migrator(db).down({ to: '0003_identifiers_binary_collation' })).rejects.toThrow(
      /Duplicate entry/,
    );
    expect(await all('SELECT user_id, idem_key FROM idempotency_keys ORDER BY 1, 2')).toEqual(keys);
    const cols = await textColumns();
    expect(cols.find((c) => c.col === 'idempotency_keys.idem_key')?.coll).toBe('utf8mb4_bin');
  });
});
