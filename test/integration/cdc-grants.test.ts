// The producer's replication user reads the captured database and nothing else, and everything the
// producer and the operator's binlog duty do still works with it. The suite bootstraps a private
// MariaDB with the stack's own script (profile `outage`, its own port and data directory) so it
// checks the grants the script gives, also to a stack bootstrapped before with SELECT ON *.*.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerBinlogState } from '../../runtime/core/binlog/server.ts';
import { migrateUp } from '../../runtime/core/db/migrate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { seedCatalog } from '../../runtime/core/db/seed.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { checkSource } from '../../runtime/producer/preflight.ts';
import { uniqueSuffix } from '../support/env.ts';
import { withDatabase } from '../support/mysql.ts';
import { type PrivateStack, privateStack } from '../support/private-stack.ts';
import { producerConfig, readTopic, runProducer } from '../support/producer.ts';
import { freeStablePort, waitFor } from '../support/wait.ts';

let port = 0;
let grantsStack: PrivateStack;
/** dev/stack.sh for a private MariaDB only (its own port and data dir on the `outage` profile). */
const stack = (...args: string[]) => grantsStack.run(...args);

const OTHER = 'payments_cdc_other'; // a database the producer does not capture
let env: Record<string, string> = {};
let admin: Pool;
let cdc: Pool;
const prefixes: string[] = [];

beforeAll(async () => {
  port = await freeStablePort();
  grantsStack = privateStack('outage', ['mariadb'], {
    dir: '.local/cdc-grants',
    env: { MYSQL_PORT: String(port) },
  });
  await stack('up');
  env = grantsStack.env();
  // What the older script granted; the next start must take it back.
  const root = createPool(env.MYSQL_ADMIN_URL ?? '', { connectionLimit: 1 });
  await root.query("GRANT SELECT ON *.* TO 'payments_cdc'@'127.0.0.1'");
  await root.end();
  await stack('down');
  await stack('up');
  admin = createPool(env.MYSQL_ADMIN_URL ?? '', { connectionLimit: 2 });
  await migrateUp(admin);
  await seedCatalog(admin);
  await admin.query(`CREATE DATABASE IF NOT EXISTS ${OTHER}`);
  await admin.query(`CREATE TABLE IF NOT EXISTS ${OTHER}.secrets (id INT PRIMARY KEY, v DATETIME(6) NULL)`);
  cdc = createPool(env.MYSQL_CDC_URL ?? '', { connectionLimit: 2 });
}, 240_000);

afterAll(async () => {
  try {
    await cdc?.end().catch(() => undefined);
    await admin?.end().catch(() => undefined);
    if (prefixes.length > 0) {
      const kafka = createKafkaAdmin({
        brokers: (process.env.KAFKA_BROKERS ?? '').split(','),
        clientId: 'cdc-grants',
      });
      const topics = (await kafka.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(`${p}.`)));
      await kafka.deleteTopics(topics).catch(() => undefined);
      await kafka.close();
    }
  } finally {
    await stack('down'); // the data directory stays, nothing keeps running
  }
}, 120_000);

describe('the CDC user (payments_cdc)', () => {
  it('has the replication rights and SELECT on the captured database only', async () => {
    const [rows] = await cdc.query('SHOW GRANTS FOR CURRENT_USER()');
    const grants = (rows as Record<string, string>[]).map((r) => Object.values(r)[0] ?? '');
    const global = grants.find((g) => g.includes(' ON *.* '));
    expect(global).toMatch(/REPLICATION SLAVE/);
    expect(global).toMatch(/BINLOG MONITOR|REPLICATION CLIENT/);
    expect(global).not.toMatch(/\bSELECT\b/);
    expect(grants.filter((g) => g.startsWith('GRANT SELECT ON '))).toEqual([
      'GRANT SELECT ON `payments`.* TO `payments_cdc`@`127.0.0.1`',
    ]);

    const [packages] = await cdc.query('SELECT COUNT(*) AS n FROM payments.packages');
    expect(Number((packages as { n: number }[])[0]?.n)).toBeGreaterThan(0);
    await expect(cdc.query(`SELECT * FROM ${OTHER}.secrets`)).rejects.toMatchObject({
      code: 'ER_TABLEACCESS_DENIED_ERROR',
    });
    await expect(cdc.query('SELECT * FROM mysql.user')).rejects.toMatchObject({
      code: 'ER_TABLEACCESS_DENIED_ERROR',
    });
  });

  it("is enough for the producer's preflight and the operator's binlog reads", async () => {
    const info = await checkSource(env.MYSQL_CDC_URL ?? '', 999_999, ['payments']);
    expect(info.flavor).toBe('mariadb');
    // A captured database without the grant is refused up front, with the grant to add.
    await expect(checkSource(env.MYSQL_CDC_URL ?? '', 999_999, ['payments', OTHER])).rejects.toThrow(
      /database payments_cdc_other does not exist or the replication user cannot read it: GRANT SELECT ON `payments\\_cdc\\_other`\.\*/,
    );
    const state = await readServerBinlogState(cdc);
    expect(state.files.length).toBeGreaterThan(0);
    expect(state.gtidExecuted).not.toBe('');
  });

  it('is enough for a snapshot and the stream, while databases it cannot read are written', async () => {
    const cfg = producerConfig(
      { name: 'payments', cdcUrl: withDatabase(env.MYSQL_CDC_URL ?? '', 'payments') },
      { PRODUCER_TABLES: 'packages', SNAPSHOT_MODE: 'initial' },
    );
    prefixes.push(cfg.topicPrefix);
    const p = await runProducer(cfg);
    try {
      await waitFor('producer ready', () => p.isReady(), 60_000);
      const id = `pkg_${uniqueSuffix()}`;
      // A table map of a database the user cannot read comes first: the reader must skip it.
      await admin.query(`INSERT INTO ${OTHER}.secrets VALUES (?, UTC_TIMESTAMP(6))`, [Date.now() % 2 ** 31]);
      await admin.query(
        "INSERT INTO payments.packages (id, name, price_amount, currency) VALUES (?, 'Granted', 1, 'EUR')",
        [id],
      );
      const events = await readTopic(`${cfg.topicPrefix}.payments.packages`, (m) =>
        m.some((x) => x.value?.includes(id)),
      );
      const ops = events.map((m) => (m.value ? (JSON.parse(m.value) as { op: string }).op : 'tombstone'));
      expect(ops).toContain('r');
      expect(events.some((m) => m.value?.includes(id))).toBe(true);
      expect(p.isReady()).toBe(true);
    } finally {
      await p.stop();
    }
  });
});
