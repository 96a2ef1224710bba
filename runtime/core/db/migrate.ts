import { Umzug, type UmzugStorage } from 'umzug';
import { migrations } from './migrations/index.ts';
import type { Pool } from './pool.ts';

const LEDGER = 'schema_migrations';

/** Umzug storage in the database itself, so the ledger moves with the data. */
function tableStorage(pool: Pool): UmzugStorage {
  const ensure = () =>
    pool.query(
      `CREATE TABLE IF NOT EXISTS ${LEDGER} (name VARCHAR(255) NOT NULL PRIMARY KEY,
         applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`,
    );
  return {
    async logMigration({ name }) {
      await ensure();
      await pool.query(`INSERT INTO ${LEDGER} (name) VALUES (?)`, [name]);
    },
    async unlogMigration({ name }) {
      await ensure();
      await pool.query(`DELETE FROM ${LEDGER} WHERE name = ?`, [name]);
    },
    async executed() {
      await ensure();
      const [rows] = await pool.query(`SELECT name FROM ${LEDGER} ORDER BY name`);
      return (rows as { name: string }[]).map((r) => r.name);
    },
  };
}

export function migrator(pool: Pool, logger?: Console | undefined) {
  return new Umzug({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: async () => {
        for (const sql of m.up) await pool.query(sql);
      },
      down: async () => {
        for (const sql of m.down) await pool.query(sql);
      },
    })),
    storage: tableStorage(pool),
    logger,
  });
}

/** Applies pending migrations. A named MySQL lock keeps concurrent runners (replicas, tests) apart. */
export async function migrateUp(pool: Pool): Promise<string[]> {
  const conn = await pool.getConnection();
  try {
    const [rows] = await conn.query("SELECT GET_LOCK(CONCAT(DATABASE(), '.migrations'), 60) AS ok");
    // Number(): MySQL types GET_LOCK as BIGINT, which the pool returns as a string; MariaDB as INT.
    if (Number((rows as { ok: unknown }[])[0]?.ok) !== 1)
      throw new Error('could not take the migration lock');
    try {
      const applied = await migrator(pool).up();
      return applied.map((m) => m.name);
    } finally {
      await conn.query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.migrations'))");
    }
  } finally {
    conn.release();
  }
}
