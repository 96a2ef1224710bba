// Writes runtime/core/events/schemas/<table>.json — the JSON Schema of each table's change events —
// from a migrated database: `set -a; . .local/test-stack.env; set +a; node runtime/core/events/generate-schemas.ts`
// (creates and drops a scratch database with the migrations applied).
import { writeFileSync } from 'node:fs';
import { migrateUp } from '../db/migrate.ts';
import { createPool, type Pool } from '../db/pool.ts';
import { type ColumnInfo, envelopeJsonSchema } from './row-schema.ts';

export async function tableColumns(pool: Pool, db: string): Promise<Map<string, ColumnInfo[]>> {
  const [rows] = (await pool.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType,
            IS_NULLABLE = 'YES' AS nullable
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [db],
  )) as unknown as [
    Array<{ t: string; name: string; dataType: string; columnType: string; nullable: number }>,
  ];
  const tables = new Map<string, ColumnInfo[]>();
  for (const r of rows) {
    if (r.t === 'schema_migrations') continue; // the migration ledger, not application data
    const cols = tables.get(r.t) ?? [];
    cols.push({
      name: r.name,
      dataType: r.dataType,
      columnType: r.columnType,
      nullable: Boolean(r.nullable),
    });
    tables.set(r.t, cols);
  }
  return tables;
}

export function schemaFiles(db: string, tables: Map<string, ColumnInfo[]>): Map<string, string> {
  const files = new Map<string, string>();
  for (const [table, cols] of tables) {
    files.set(`${table}.json`, `${JSON.stringify(envelopeJsonSchema(db, table, cols), null, 2)}\n`);
  }
  return files;
}

if (import.meta.main) {
  const adminUrl = process.env.MYSQL_ADMIN_URL;
  if (!adminUrl) throw new Error('MYSQL_ADMIN_URL is not set (source .local/test-stack.env)');
  const scratch = `payments_schema_${Date.now().toString(36)}`;
  const root = createPool(adminUrl, { connectionLimit: 1 });
  await root.query(`CREATE DATABASE \`${scratch}\``);
  const u = new URL(adminUrl);
  u.pathname = `/${scratch}`;
  const pool = createPool(u.toString(), { connectionLimit: 2 });
  try {
    await migrateUp(pool);
    const files = schemaFiles('payments', await tableColumns(pool, scratch));
    for (const [name, body] of files) writeFileSync(new URL(`./schemas/${name}`, import.meta.url), body);
    process.stdout.write(`wrote ${[...files.keys()].join(', ')}\n`);
  } finally {
    await pool.end();
    await root.query(`DROP DATABASE \`${scratch}\``);
    await root.end();
  }
}
