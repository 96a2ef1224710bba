// Oracle MySQL 9.7 as the stack starts it (DB_FLAVOR=mysql): a private server from the stack's own
// script (its own STACK_DIR and port), the accounts and settings the script gives, the project's
// migrations, and a committed row change read back from the binlog by zongji with its GTID.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import ZongJi, { type AnyBinlogEvent } from '@vlasky/zongji';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStackEnv } from '../../dev/stack-env.ts';
import { migrateUp } from '../../runtime/core/db/migrate.ts';
import { createPool, mysqlEndpoint, type Pool } from '../../runtime/core/db/pool.ts';
import { seedCatalog } from '../../runtime/core/db/seed.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const STACK_DIR = `${ROOT}/.local/mysql-smoke`;
const ENV_FILE = `${STACK_DIR}/stack.env`;
// Below the kernel's ephemeral range, outside every profile's ports.
const PORT = Number(process.env.MYSQL_SMOKE_PORT ?? 26006);
const run = promisify(execFile);

async function stack(...args: string[]): Promise<void> {
  await run(`${ROOT}/dev/stack.sh`, args, {
    cwd: ROOT,
    timeout: 300_000, // a cold cache downloads and unpacks the debs first
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ...(process.env.PAYMENTS_CACHE_DIR ? { PAYMENTS_CACHE_DIR: process.env.PAYMENTS_CACHE_DIR } : {}),
      DB_FLAVOR: 'mysql',
      STACK_NAME: 'outage',
      STACK_COMPONENTS: 'mysql',
      STACK_DIR,
      STACK_ENV_FILE: ENV_FILE,
      MYSQL_PORT: String(PORT),
    },
  });
}

let env: Record<string, string> = {};
let admin: Pool;
let app: Pool;
let cdc: Pool;

beforeAll(async () => {
  await stack('up');
  env = readStackEnv(ENV_FILE);
  admin = createPool(env.MYSQL_ADMIN_URL ?? '', { connectionLimit: 2 });
  app = createPool(env.MYSQL_URL ?? '', { connectionLimit: 2 });
  cdc = createPool(env.MYSQL_CDC_URL ?? '', { connectionLimit: 2 });
}, 320_000);

afterAll(async () => {
  await Promise.all([admin, app, cdc].map((p) => p?.end().catch(() => undefined)));
  await stack('down'); // by the pid file the script wrote
}, 120_000);

const one = async (pool: Pool, sql: string) =>
  ((await pool.query(sql))[0] as Record<string, unknown>[])[0] ?? {};

/**
 * The CDC user's zongji client with `on`'s handlers, started at the end of the binlog on `tables` of
 * the payments database; resolved once it streams (stopped again if it cannot start).
 */
async function cdcStream(
  serverId: number,
  tables: string[],
  on: { binlog: (e: AnyBinlogEvent) => void; error: (err: Error) => void },
  includeEvents?: string[],
): Promise<ZongJi> {
  const { host, port, user, password } = mysqlEndpoint(env.MYSQL_CDC_URL ?? '');
  const zongji = new ZongJi({ host, port, user, password, charset: 'utf8mb4_unicode_ci', dateStrings: true });
  zongji.on('error', on.error);
  zongji.on('binlog', on.binlog);
  try {
    await new Promise<void>((done, fail) => {
      zongji.once('ready', () => done());
      zongji.once('error', fail);
      zongji.start({
        serverId,
        startAtEnd: true,
        ...(includeEvents && { includeEvents }),
        includeSchema: { payments: tables },
      });
    });
  } catch (err) {
    zongji.stop();
    throw err;
  }
  return zongji;
}

describe('MySQL 9.7 test server', () => {
  it('is MySQL 9.7, with the stack env pointing at it', async () => {
    expect(env.DB_FLAVOR).toBe('mysql');
    expect(mysqlEndpoint(env.MYSQL_URL ?? '').port).toBe(PORT);
    const row = await one(app, 'SELECT @@version AS version, @@version_comment AS comment');
    expect(String(row.version)).toMatch(/^9\.7\./);
    expect(String(row.version)).not.toMatch(/mariadb/i);
  });

  it('is configured for row-based change capture with GTIDs', async () => {
    const row = await one(
      cdc,
      `SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image,
              @@binlog_row_metadata AS metadata, @@gtid_mode AS gtid_mode,
              @@enforce_gtid_consistency AS enforce, @@sync_binlog AS sync_binlog,
              @@binlog_transaction_compression AS compression, @@time_zone AS tz,
              @@performance_schema AS perf, @@bind_address AS bind, @@mysqlx AS x`,
    ).catch(async () =>
      // @@mysqlx exists only while the plugin is loaded; OFF unloads it.
      one(
        cdc,
        `SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image,
                @@binlog_row_metadata AS metadata, @@gtid_mode AS gtid_mode,
                @@enforce_gtid_consistency AS enforce, @@sync_binlog AS sync_binlog,
                @@binlog_transaction_compression AS compression, @@time_zone AS tz,
                @@performance_schema AS perf, @@bind_address AS bind`,
      ),
    );
    // Integer variables are BIGINT on MySQL: the pool returns them as strings.
    expect(row).toMatchObject({
      log_bin: '1',
      format: 'ROW',
      image: 'FULL',
      metadata: 'FULL',
      gtid_mode: 'ON',
      enforce: 'ON',
      sync_binlog: '1',
      compression: '0',
      tz: '+00:00',
      perf: '0',
      bind: '127.0.0.1',
    });
    expect(String(row.x ?? 'absent')).not.toBe('1');
    const status = await one(cdc, 'SHOW BINARY LOG STATUS');
    expect(String(status.File)).toMatch(/^mysql-bin\.\d+$/);
  });

  it('logs every account in with caching_sha2_password over plain TCP', async () => {
    const [rows] = await admin.query(
      "SELECT user, plugin FROM mysql.user WHERE user LIKE 'payments\\_%' AND host = '127.0.0.1' ORDER BY user",
    );
    expect(rows).toEqual([
      { user: 'payments_admin', plugin: 'caching_sha2_password' },
      { user: 'payments_app', plugin: 'caching_sha2_password' },
      { user: 'payments_cdc', plugin: 'caching_sha2_password' },
    ]);
    // Fresh connections (cache cleared), no TLS: the RSA public-key exchange path.
    await admin.query('FLUSH PRIVILEGES');
    for (const url of [env.MYSQL_URL, env.MYSQL_CDC_URL]) {
      const pool = createPool(url ?? '', { connectionLimit: 1 });
      try {
        const who = await one(pool, 'SELECT CURRENT_USER() AS who');
        const [ssl] = await pool.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
        expect((ssl as { Value: string }[])[0]?.Value ?? '').toBe('');
        expect(String(who.who)).toMatch(/^payments_(app|cdc)@127\.0\.0\.1$/);
      } finally {
        await pool.end();
      }
    }
  });

  it('grants the api DML only and the producer replication plus SELECT on the captured database', async () => {
    await expect(app.query('CREATE TABLE payments.nope (id INT PRIMARY KEY)')).rejects.toThrow(/denied/i);
    const [grants] = await cdc.query('SHOW GRANTS');
    const text = (grants as Record<string, string>[]).map((g) => Object.values(g)[0]).join('\n');
    expect(text).toMatch(/GRANT REPLICATION SLAVE, REPLICATION CLIENT ON \*\.\*/);
    expect(text).toMatch(/GRANT SELECT ON `payments`\.\*/);
    expect(text).not.toMatch(/GRANT SELECT ON \*\.\*/);
  });

  it("runs the project's migrations and seeds the catalog", async () => {
    await migrateUp(admin);
    await seedCatalog(admin);
    const [rows] = await app.query('SELECT id, price_amount, currency FROM packages ORDER BY id');
    expect(rows).toContainEqual({ id: 'pkg_plus', price_amount: '1999', currency: 'EUR' });
  });

  it('streams a committed row change with its GTID through zongji', async () => {
    await admin.query('DROP TABLE IF EXISTS payments.smoke'); // the datadir outlives a run
    await admin.query(
      'CREATE TABLE payments.smoke (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL, at DATETIME(6) NOT NULL)',
    );
    const seen: { gtid?: string; rows?: unknown[]; error?: unknown } = {};
    const got = Promise.withResolvers<void>();
    let gtid: string | undefined;
    const zongji = await cdcStream(
      26006,
      ['smoke'],
      {
        error: (err) => got.reject(err),
        binlog: (e) => {
          const name = e.getEventName();
          if (name === 'gtid') gtid = (e as unknown as { gtid: string }).gtid;
          if (name === 'writerows') {
            const w = e as unknown as {
              tableMap: Record<number, { tableName: string }>;
              tableId: number;
              rows: unknown[];
            };
            if (w.tableMap[w.tableId]?.tableName !== 'smoke') return;
            seen.gtid = gtid;
            seen.rows = w.rows;
            got.resolve();
          }
        },
      },
      ['rotate', 'gtid', 'tablemap', 'writerows', 'xid'],
    );
    try {
      const conn = await app.getConnection();
      let committed: string;
      try {
        await conn.query('BEGIN');
        await conn.query("INSERT INTO payments.smoke VALUES (1, 'héllo', '2026-01-02 03:04:05.678901')");
        await conn.query('COMMIT');
        // With no other writer, the executed set's last transaction of this server is ours.
        const row = await one(admin, 'SELECT @@server_uuid AS uuid, @@gtid_executed AS executed');
        const m = new RegExp(`${row.uuid}:(?:\\d+-)?(\\d+)`).exec(String(row.executed).replace(/\s/g, ''));
        committed = `${row.uuid}:${m?.[1]}`;
      } finally {
        conn.release();
      }
      await Promise.race([
        got.promise,
        new Promise((_, fail) => setTimeout(() => fail(new Error('no row event in 20 s')), 20_000)),
      ]);
      expect(seen.gtid).toBe(committed);
      expect(seen.rows).toEqual([{ id: 1, note: 'héllo', at: '2026-01-02 03:04:05.678901' }]);
    } finally {
      zongji.stop();
    }
  });
  it('decodes tagged GTIDs, and reports compressed transactions as an error instead of skipping them', async () => {
    await admin.query(
      'CREATE TABLE IF NOT EXISTS payments.smoke_tagged (id INT PRIMARY KEY, j JSON NOT NULL)',
    );
    await admin.query('DELETE FROM payments.smoke_tagged');
    const events: { name: string; gtid: string; rows?: unknown[] }[] = [];
    const errors: Error[] = [];
    const zongji = await cdcStream(26007, ['smoke_tagged'], {
      error: (err) => errors.push(err),
      binlog: (e) => {
        const { gtid, rows } = e as unknown as { gtid?: string; rows?: unknown[] };
        events.push({ name: e.getEventName(), gtid: gtid ?? '', ...(rows ? { rows } : {}) });
      },
    });
    const conn = await admin.getConnection();
    try {
      await conn.query("SET gtid_next = 'AUTOMATIC:smoke'");
      await conn.query('INSERT INTO payments.smoke_tagged VALUES (1, \'{"a": [1, 2]}\')');
      await conn.query("SET gtid_next = 'AUTOMATIC'");
      const uuid = String((await one(admin, 'SELECT @@server_uuid AS uuid')).uuid);
      const wait = async (what: string, ok: () => boolean) => {
        for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 200));
        if (!ok()) throw new Error(`zongji: no ${what} in 20 s`);
      };
      await wait('tagged row event', () => events.some((e) => e.name === 'writerows'));
      const row = events.find((e) => e.name === 'writerows');
      expect(row?.gtid).toMatch(new RegExp(`^${uuid}:smoke:\\d+$`));
      expect(row?.rows).toEqual([{ id: 1, j: { a: [1, 2] } }]);

      await conn.query('SET SESSION binlog_transaction_compression = ON');
      await conn.query("INSERT INTO payments.smoke_tagged VALUES (2, '{}')");
      await wait('error for the compressed transaction', () => errors.length > 0);
      expect(errors[0]?.message).toMatch(/TRANSACTION_PAYLOAD_EVENT.*binlog_transaction_compression=OFF/s);
      expect(events.filter((e) => e.name === 'writerows')).toHaveLength(1);
    } finally {
      await conn.query('SET SESSION binlog_transaction_compression = OFF').catch(() => undefined);
      conn.release();
      zongji.stop();
    }
  });
});
