// A change of primary, on both flavors: a second server replicates the first with GTID auto-position
// (MySQL) / MASTER_USE_GTID (MariaDB), is promoted after the first is gone, and the producer follows
// from its checkpoint. Writes on the new primary reach Redis, no change is lost or applied out of
// order, and the cache verifies clean against the new primary (what `make verify` runs).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import { decodeMessage } from '../../runtime/consumer/decode.ts';
import { type ConsumerService, startConsumerService } from '../../runtime/consumer/service.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { readSourceState, stateCovers } from '../../runtime/core/binlog/source.ts';
import { parseEnv } from '../../runtime/core/config/env.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { createRegistry } from '../../runtime/core/metrics.ts';
import { gtidSequence } from '../../runtime/core/position.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { privateStack } from '../support/private-stack.ts';
import { deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { eventually, waitFor } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');

type Flavor = 'mysql' | 'mariadb';

/** Replication statements of each flavor (the test drives the servers as an operator would). */
const SQL: Record<
  Flavor,
  { reset: string[]; follow: (port: number, password: string) => string[]; promote: string[] }
> = {
  mysql: {
    reset: ['RESET BINARY LOGS AND GTIDS'],
    follow: (port, password) => [
      `CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=${port}, SOURCE_USER='payments_cdc',
         SOURCE_PASSWORD='${password}', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1`,
      'START REPLICA',
    ],
    promote: ['STOP REPLICA', 'RESET REPLICA ALL'],
  },
  mariadb: {
    reset: ['RESET MASTER', "SET GLOBAL gtid_slave_pos = ''"],
    follow: (port, password) => [
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${port}, MASTER_USER='payments_cdc',
         MASTER_PASSWORD='${password}', MASTER_USE_GTID=slave_pos`,
      'START SLAVE',
    ],
    promote: ['STOP SLAVE', 'RESET SLAVE ALL'],
  },
};

const PORTS: Record<Flavor, number> = { mysql: 25326, mariadb: 25336 };

describe.each(['mysql', 'mariadb'] as const)('a change of primary on %s', (flavor) => {
  const port = PORTS[flavor];
  const servers = (['a', 'b'] as const).map((name, i) =>
    privateStack('outage', [flavor], {
      dir: `.local/primary-change-${flavor}-${name}`,
      env: { DB_FLAVOR: flavor, MYSQL_PORT: String(port + i), DB_SERVER_ID: String(2 + i) },
    }),
  );
  const [primary, replica] = servers as [(typeof servers)[0], (typeof servers)[0]];
  const onReplica = (url: string) => {
    const u = new URL(url);
    u.port = String(port + 1);
    return u.toString();
  };
  const prefix = `pc${uniqueSuffix()}`;
  const redis = new Redis(requireEnv('REDIS_URL'));
  const log = createLogger('primary-change', 'warn');
  let db: TestDatabase;
  let replicaAdmin: Pool;

  beforeAll(async () => {
    // A topology of its own each run: fresh data for both servers (a replica once promoted, or left
    // replicating by a crashed run, would not take a new source as it is).
    for (const [i, s] of servers.entries()) {
      await s.run('down');
      rmSync(`${ROOT}/.local/primary-change-${flavor}-${i === 0 ? 'a' : 'b'}`, {
        recursive: true,
        force: true,
      });
    }
    await primary.run('up');
    // The replica gets the primary's accounts (replication keeps them equal), as a provisioned one would.
    const dir = flavor === 'mysql' ? 'mysql' : 'mariadb';
    mkdirSync(`${ROOT}/.local/primary-change-${flavor}-b/${dir}`, { recursive: true });
    copyFileSync(
      `${ROOT}/.local/primary-change-${flavor}-a/${dir}/credentials.env`,
      `${ROOT}/.local/primary-change-${flavor}-b/${dir}/credentials.env`,
    );
    await replica.run('up');
    const env = primary.env();
    replicaAdmin = createPool(onReplica(env.MYSQL_ADMIN_URL ?? ''), { connectionLimit: 2 });
    for (const sql of SQL[flavor].reset) await replicaAdmin.query(sql);
    const cdcPassword = decodeURIComponent(new URL(env.MYSQL_CDC_URL ?? '').password);
    for (const sql of SQL[flavor].follow(port, cdcPassword)) await replicaAdmin.query(sql);
    db = await createTestDatabase({
      server: {
        adminUrl: env.MYSQL_ADMIN_URL ?? '',
        appUrl: env.MYSQL_URL ?? '',
        cdcUrl: env.MYSQL_CDC_URL ?? '',
      },
    });
  }, 600_000);

  afterAll(async () => {
    await replicaAdmin?.query(`DROP DATABASE IF EXISTS \`${db?.name}\``).catch(() => undefined);
    await replicaAdmin?.end().catch(() => undefined);
    await deleteTopics(prefix).catch(() => undefined);
    await deleteRedisKeys(redis, prefix).catch(() => undefined);
    redis.disconnect();
    for (const s of servers) await s.run('down').catch(() => undefined);
  }, 180_000);

  function consumer(appUrl: string): Promise<ConsumerService> {
    const config = parseEnv(consumerEnvSchema, {
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      TOPIC_PREFIX: prefix,
      REDIS_URL: requireEnv('REDIS_URL'),
      MYSQL_URL: appUrl,
      CONSUMER_METRICS_PORT: '1',
      LOG_LEVEL: 'warn',
    });
    return startConsumerService(config, createRegistry('consumer'), log);
  }

  /** Renames every package and adds new ones: each statement its own transaction. */
  async function write(pool: Pool, round: string, n: number): Promise<void> {
    const [rows] = await pool.query('SELECT id FROM packages ORDER BY id');
    const ids = (rows as { id: string }[]).map((r) => r.id);
    for (let i = 0; i < n; i++) {
      for (const id of ids)
        await pool.query('UPDATE packages SET name = ? WHERE id = ?', [`${id} ${round} ${i}`, id]);
    }
    for (let i = 0; i < 3; i++) {
      await pool.query('INSERT INTO packages (id, name, price_amount, currency) VALUES (?, ?, 100, ?)', [
        `pkg_${round}_${i}`,
        `New ${round} ${i}`,
        'EUR',
      ]);
    }
  }

  const covers = async (a: Pool, b: Pool) =>
    stateCovers(flavor, (await readSourceState(a)).gtid ?? '', (await readSourceState(b)).gtid ?? '');

  it('follows the promoted replica from its checkpoint: nothing lost, nothing out of order, verify clean', async () => {
    const cfg = producerConfig(db, { SNAPSHOT_MODE: 'never', START_FROM: 'latest', TOPIC_PREFIX: prefix });
    const oldPrimary = createPool(db.appUrl, { connectionLimit: 2 });
    const newPrimary = createPool(onReplica(db.appUrl), { connectionLimit: 2 });
    try {
      let producer = await runProducer(cfg);
      let service = await consumer(db.appUrl);
      try {
        await waitFor('the producer streaming', () => producer.isReady(), 30_000);
        await write(oldPrimary, 'old', 5);
        await waitFor('the replica caught up', () => covers(newPrimary, oldPrimary), 60_000);
        await eventually(
          'Redis equal to the old primary',
          () => verifyCache({ pool: oldPrimary, redis, prefix }),
          (m) => m.length === 0,
          60_000,
        );
      } finally {
        await producer.stop();
        await service.stop();
      }

      // The old primary goes away; the replica becomes the primary.
      await primary.run('down');
      for (const sql of SQL[flavor].promote) await replicaAdmin.query(sql);

      producer = await runProducer({ ...cfg, mysqlUrl: onReplica(db.cdcUrl) });
      service = await consumer(onReplica(db.appUrl));
      try {
        await waitFor('the producer streaming', () => producer.isReady(), 30_000);
        await write(newPrimary, 'new', 3);
        await eventually(
          'Redis equal to the new primary',
          () => verifyCache({ pool: newPrimary, redis, prefix }),
          (m) => m.length === 0,
          90_000,
        );
      } finally {
        await producer.stop();
        await service.stop();
      }

      // Every change of a row in its partition, in commit order: versions strictly increase.
      const topic = `${prefix}.${db.name}.packages`;
      const messages = (await readTopic(topic, () => false, 3000)).filter((m) => m.value !== null);
      const byKey = new Map<string, string[]>();
      let gtidNumbersFellBack = false;
      const lastGtidNumber = new Map<string, bigint>();
      for (const m of messages) {
        const d = decodeMessage('packages', m.key, m.value);
        if (d.kind !== 'change') throw new Error(`undecodable change: ${JSON.stringify(d)}`);
        byKey.set(m.key ?? '', [...(byKey.get(m.key ?? '') ?? []), d.change.version]);
        // What versions built from the GTID's own number would have done.
        const n = gtidSequence(d.change.gtid ?? '');
        if (n < (lastGtidNumber.get(m.key ?? '') ?? 0n)) gtidNumbersFellBack = true;
        lastGtidNumber.set(m.key ?? '', n);
      }
      // MySQL: the new primary numbers its own UUID from 1, so GTID numbers alone go backwards (the
      // cache would keep the old rows for good); MariaDB continues the domain's numbering.
      expect(gtidNumbersFellBack).toBe(flavor === 'mysql');
      expect(byKey.size).toBeGreaterThanOrEqual(4 + 6);
      for (const [key, versions] of byKey) {
        expect([...versions].sort(), key).toEqual(versions);
        expect(new Set(versions).size, key).toBe(versions.length);
      }
    } finally {
      await oldPrimary.end().catch(() => undefined);
      await newPrimary.end().catch(() => undefined);
    }
  });
});
