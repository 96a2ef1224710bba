// MariaDB as managed services run it: TLS only (require_secure_transport), a certificate from the
// stack's own CA (dev/lib/mariadb.sh, MYSQL_TLS=on, on a private server). Every component connects with
// the URLs' ssl-* parameters (runtime/core/db/tls.ts), verify-full; a plaintext connection and a wrong
// CA are refused, each with a clear error.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchaseResponse } from '../../runtime/api/schemas.ts';
import { createPool } from '../../runtime/core/db/pool.ts';
import { call, startApi } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type PrivateStack, privateStack } from '../support/private-stack.ts';
import { deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';
import { freeStablePort } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = `.local/mysql-tls-${uniqueSuffix()}`;
const run = promisify(execFile);

let stack: PrivateStack;
let server: { adminUrl: string; appUrl: string; cdcUrl: string };
let db: TestDatabase;

beforeAll(async () => {
  stack = privateStack('outage', ['mariadb'], {
    dir: DIR,
    env: { MYSQL_PORT: String(await freeStablePort()), MYSQL_TLS: 'on' },
  });
  await stack.run('up');
  const env = stack.env();
  server = {
    adminUrl: env.MYSQL_ADMIN_URL ?? '',
    appUrl: env.MYSQL_URL ?? '',
    cdcUrl: env.MYSQL_CDC_URL ?? '',
  };
  db = await createTestDatabase({ server });
}, 180_000);
afterAll(async () => {
  await db?.drop().catch(() => undefined);
  await stack?.run('down');
  rmSync(`${ROOT}/${DIR}`, { recursive: true, force: true });
});

const plaintext = (url: string) => {
  const u = new URL(url);
  u.search = '';
  return u.toString();
};

async function cipherOf(url: string): Promise<string> {
  const pool = createPool(url, { connectionLimit: 1 });
  try {
    const [rows] = await pool.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    return String((rows as { Value: string }[])[0]?.Value ?? '');
  } finally {
    await pool.end();
  }
}

describe('MySQL/MariaDB over TLS', () => {
  it('the server refuses plaintext; the URLs connect over TLS with the certificate verified', async () => {
    expect(server.appUrl).toMatch(/\?ssl-ca=\//);
    // MariaDB answers a plaintext login under require_secure_transport / REQUIRE SSL with "Access
    // denied"; the same credentials over TLS are let in.
    await expect(cipherOf(plaintext(db.appUrl))).rejects.toThrow(/Access denied for user 'payments_app'/);
    expect(await cipherOf(db.appUrl)).toMatch(/^TLS_|AES|CHACHA/);
    const pool = createPool(db.adminUrl, { connectionLimit: 1 });
    try {
      const [rows] = await pool.query('SELECT @@require_secure_transport AS required');
      expect(Number((rows as { required: number }[])[0]?.required)).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('a wrong CA is refused with a clear error, before any credentials are sent', async () => {
    const other = mkdtempSync(join(tmpdir(), 'other-ca-'));
    try {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=someone-else',
        '-keyout',
        `${other}/ca.key`,
        '-out',
        `${other}/ca.crt`,
      ]);
      const u = new URL(db.appUrl);
      u.searchParams.set('ssl-ca', `${other}/ca.crt`);
      await expect(cipherOf(u.toString())).rejects.toThrow(
        /self[- ]signed certificate|unable to verify|certificate/i,
      );
      u.searchParams.set('ssl-ca', `${other}/missing.crt`);
      await expect(cipherOf(u.toString())).rejects.toThrow(/cannot read ssl-ca=.*missing.crt: ENOENT/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('the api serves writes through its TLS pool', async () => {
    const api = await startApi({}, { mysqlServer: server });
    try {
      const token = await mintToken(`tls_${uniqueSuffix()}`);
      const created = await call(api.url, 'POST', '/v1/purchases', {
        token,
        body: { package_id: 'pkg_plus' },
        headers: { 'idempotency-key': `k_${uniqueSuffix()}` },
      });
      expect(created.status).toBe(201);
      expect(createPurchaseResponse.parse(created.body).payment.status).toBe('pending');
    } finally {
      await api.close();
    }
  });

  it('the producer snapshots and streams the binlog over TLS (preflight, lock, snapshot, replication)', async () => {
    const cfg = producerConfig(db, { SNAPSHOT_MODE: 'initial', PRODUCER_TABLES: 'packages' });
    const producer = await runProducer(cfg);
    try {
      const topic = `${cfg.topicPrefix}.${db.name}.packages`;
      const snapshot = await readTopic(topic, (ms) => ms.some((m) => String(m.value).includes('"op":"r"')));
      expect(snapshot.length).toBeGreaterThan(0);
      await db.admin.query("UPDATE packages SET name = 'Plus over TLS' WHERE id = 'pkg_plus'");
      const streamed = await readTopic(topic, (ms) =>
        ms.some((m) => String(m.value).includes('Plus over TLS')),
      );
      expect(streamed.some((m) => String(m.value).includes('"op":"u"'))).toBe(true);
    } finally {
      await producer.stop();
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  }, 120_000);

  it('the consumer tools rebuild and verify the cache from MySQL over TLS', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      TOPIC_PREFIX: `tls${uniqueSuffix()}`,
      LOG_LEVEL: 'error',
    };
    await run(process.execPath, [`${ROOT}/runtime/consumer/rebuild-main.ts`], {
      cwd: ROOT,
      env,
      timeout: 60_000,
    });
    const verified = await run(process.execPath, [`${ROOT}/runtime/consumer/verify-main.ts`], {
      cwd: ROOT,
      env,
      timeout: 60_000,
    });
    expect(verified.stdout + verified.stderr).not.toMatch(/ssl|tls|insecure/i);
  }, 120_000);
});
