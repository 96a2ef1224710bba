import { currentSourceGtid } from '../../runtime/consumer/source-gtid.ts';
import { migrateUp } from '../../runtime/core/db/migrate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { seedCatalog } from '../../runtime/core/db/seed.ts';
import { gtidSequence } from '../../runtime/core/position.ts';
import { requireEnv, uniqueSuffix } from './env.ts';

export type TestDatabase = {
  name: string;
  /** DDL-capable user, for set-up and direct SQL in tests. */
  adminUrl: string;
  /** The api's least-privilege user (DML on payments% databases). */
  appUrl: string;
  /** The producer's replication user. */
  cdcUrl: string;
  admin: Pool;
  drop: () => Promise<void>;
};

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * A fresh, migrated and seeded database of its own for one suite (`payments_t_<suffix>`), on the test
 * stack's server unless `server` names another (a private one the suite stops and starts).
 */
export async function createTestDatabase(
  opts: { seed?: boolean; server?: { adminUrl: string; appUrl: string; cdcUrl: string } } = {},
): Promise<TestDatabase> {
  const name = `payments_t_${uniqueSuffix()}`;
  const server = opts.server ?? {
    adminUrl: requireEnv('MYSQL_ADMIN_URL'),
    appUrl: requireEnv('MYSQL_URL'),
    cdcUrl: requireEnv('MYSQL_CDC_URL'),
  };
  const root = createPool(server.adminUrl, { connectionLimit: 1 });
  await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await root.end();
  const adminUrl = withDatabase(server.adminUrl, name);
  const admin = createPool(adminUrl, { connectionLimit: 5 });
  await migrateUp(admin);
  if (opts.seed !== false) await seedCatalog(admin);
  return {
    name,
    adminUrl,
    appUrl: withDatabase(server.appUrl, name),
    cdcUrl: withDatabase(server.cdcUrl, name),
    admin,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

/**
 * Runs one autocommitted statement and returns where it landed: its GTID and the binlog coordinates
 * read right after it on the same connection.
 */
export async function commitAndLocate(
  pool: Pool,
  sql: string,
  params: unknown[] = [],
): Promise<{ gtid: string; file: string; pos: number }> {
  const conn = await pool.getConnection();
  try {
    await conn.query(sql, params);
    const [[g]] = (await conn.query('SELECT @@last_gtid AS gtid')) as unknown as [{ gtid: string }[]];
    const [[s]] = (await conn.query('SHOW MASTER STATUS')) as unknown as [
      { File: string; Position: string }[],
    ];
    if (!g || !s) throw new Error('no GTID or master status');
    return { gtid: g.gtid, file: s.File, pos: Number(s.Position) };
  } finally {
    conn.release();
  }
}

/**
 * Commits `n` transactions on the source and returns a GTID sequence `s` such that `s - n + 1` … `s`
 * were all produced after this call began: test events given those sequences are newer than anything
 * read from the source before (e.g. a consumer's start-up rebuild) and not beyond what the source has
 * produced (the consumer refuses those).
 */
export async function advanceSource(pool: Pool, n: number): Promise<bigint> {
  await pool.query('CREATE TABLE IF NOT EXISTS gtid_pad (id INT AUTO_INCREMENT PRIMARY KEY)');
  for (let i = 0; i < n; i++) await pool.query('INSERT INTO gtid_pad () VALUES ()');
  const gtid = await currentSourceGtid(pool);
  if (gtid === null) throw new Error('the source has no GTID after committing');
  return gtidSequence(gtid);
}
