import {
  commitWithPosition,
  readSourcePosition,
  readSourceState,
  trackOwnCommits,
} from '../../runtime/core/binlog/source.ts';
import { migrateUp } from '../../runtime/core/db/migrate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { seedCatalog } from '../../runtime/core/db/seed.ts';
import { requireEnv, uniqueSuffix } from './env.ts';

export type TestDatabase = {
  name: string;
  /** DDL-capable user, for set-up and direct SQL in tests. */
  adminUrl: string;
  /** The api's least-privilege user (DML on payments% databases). */
  appUrl: string;
  /** The producer's replication user, granted SELECT on this database only. */
  cdcUrl: string;
  admin: Pool;
  drop: () => Promise<void>;
};

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** `user`@`host` of the account a URL logs in as. */
async function accountOf(url: string): Promise<string> {
  const pool = createPool(withDatabase(url, ''), { connectionLimit: 1 }); // no grant on that one yet
  try {
    const [rows] = await pool.query('SELECT CURRENT_USER() AS who');
    const who = String((rows as { who: string }[])[0]?.who);
    const at = who.lastIndexOf('@');
    return `${pool.escape(who.slice(0, at))}@${pool.escape(who.slice(at + 1))}`;
  } finally {
    await pool.end();
  }
}

/** A database name as a grant's literal pattern (`_` and `%` are wildcards there). */
const grantPattern = (db: string) => `\`${db.replace(/[_%]/g, (c) => `\\${c}`)}\``;

/**
 * Grants the producer's replication user (`cdcUrl`) SELECT on one database, as an operator does for a
 * captured database: the user has no SELECT anywhere else. Returns the matching revoke.
 */
export async function grantCdcRead(admin: Pool, cdcUrl: string, db: string): Promise<() => Promise<void>> {
  const account = await accountOf(cdcUrl);
  await admin.query(`GRANT SELECT ON ${grantPattern(db)}.* TO ${account}`);
  return async () => {
    await admin.query(`REVOKE SELECT ON ${grantPattern(db)}.* FROM ${account}`).catch(() => undefined);
  };
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
  const cdcUrl = withDatabase(server.cdcUrl, name);
  let revokeCdc: () => Promise<void>;
  try {
    await migrateUp(admin);
    if (opts.seed !== false) await seedCatalog(admin);
    revokeCdc = await grantCdcRead(admin, cdcUrl, name);
  } catch (err) {
    // A set-up that fails leaves no database behind.
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
    await admin.end();
    throw err;
  }
  return {
    name,
    adminUrl,
    appUrl: withDatabase(server.appUrl, name),
    cdcUrl,
    admin,
    drop: async () => {
      await revokeCdc();
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
    await trackOwnCommits(conn);
    await conn.query('BEGIN');
    await conn.query(sql, params);
    const commit = await commitWithPosition(conn);
    const s = await readSourcePosition(conn);
    if (!commit) throw new Error('the statement wrote no binlog event');
    return { gtid: commit.gtid, file: s.file, pos: s.pos };
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
  return (await readSourceState(pool)).sequence;
}
