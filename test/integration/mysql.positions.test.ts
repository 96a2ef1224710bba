// Source positions on Oracle MySQL 9.7 (a private server from the stack's own script): where the
// snapshot starts streaming, what its events carry, versions across a change of server UUID, and the
// commit position a write's consistency token names. Each case once lost or mis-ordered a change.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../runtime/api/store/transaction.ts';
import { decodeMessage } from '../../runtime/consumer/decode.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { verifyCache } from '../../runtime/consumer/verify.ts';
import { parseMysqlSet } from '../../runtime/core/binlog/gtid.ts';
import { readSourceState } from '../../runtime/core/binlog/source.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import type { Checkpoint } from '../../runtime/core/checkpoint/format.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { createProducerMetrics } from '../../runtime/producer/metrics.ts';
import { checkSource, SourceNotSupportedError } from '../../runtime/producer/preflight.ts';
import type { Publisher, QueueItem } from '../../runtime/producer/publisher.ts';
import { runSnapshot } from '../../runtime/producer/snapshot.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { privateStack } from '../support/private-stack.ts';
import { deleteTopics, producerConfig, readTopic, runProducer, waitFor } from '../support/producer.ts';
import { deleteRedisKeys } from '../support/redis.ts';

// Below the kernel's ephemeral range, outside every profile's ports.
const PORT = Number(process.env.MYSQL_POSITIONS_PORT ?? 25316);
const server = privateStack('outage', ['mysql'], {
  dir: '.local/mysql-positions',
  env: { DB_FLAVOR: 'mysql', MYSQL_PORT: String(PORT) },
});

let db: TestDatabase;
let app: Pool;

beforeAll(async () => {
  await server.run('up');
  const env = server.env();
  db = await createTestDatabase({
    server: {
      adminUrl: env.MYSQL_ADMIN_URL ?? '',
      appUrl: env.MYSQL_URL ?? '',
      cdcUrl: env.MYSQL_CDC_URL ?? '',
    },
  });
  app = createPool(db.appUrl, { connectionLimit: 8 });
}, 320_000);

afterAll(async () => {
  await app?.end().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await server.run('down');
}, 120_000);

const one = async (pool: Pool, sql: string) =>
  ((await pool.query(sql))[0] as Record<string, unknown>[])[0] ?? {};

const executed = async () => String((await one(db.admin, 'SELECT @@global.gtid_executed AS g')).g);

/** The GTIDs of `after` that `before` lacks, as `uuid:n` (one transaction per GTID). */
function added(before: string, after: string): string[] {
  const b = parseMysqlSet(before);
  const out: string[] = [];
  for (const [source, intervals] of parseMysqlSet(after)) {
    for (const [s, e] of intervals) {
      for (let n = s; n <= e; n++) {
        if (!(b.get(source) ?? []).some(([bs, be]) => bs <= n && n <= be)) out.push(`${source}:${n}`);
      }
    }
  }
  return out;
}

const contains = (set: string, gtid: string) => {
  const cut = gtid.lastIndexOf(':');
  const n = BigInt(gtid.slice(cut + 1));
  return (parseMysqlSet(set).get(gtid.slice(0, cut)) ?? []).some(([s, e]) => s <= n && n <= e);
};

/** A publisher that keeps what the snapshot hands it (the Kafka side is not what these cases test). */
function capturingPublisher() {
  const items: QueueItem[] = [];
  const publisher = {
    enqueue: (item: QueueItem) => {
      items.push(item);
    },
    flush: async () => undefined,
  } as unknown as Publisher;
  return { publisher, items };
}

function snapshotDeps(publisher: Publisher, cfg = producerConfig(db, { SNAPSHOT_MODE: 'initial' })) {
  return {
    cfg,
    publisher,
    src: { name: cfg.name, serverId: cfg.serverId, topicPrefix: cfg.topicPrefix },
    log: createLogger('mysql-positions', 'error'),
    metrics: createProducerMetrics(new Registry()),
  };
}

const snapshotRows = (items: QueueItem[]) =>
  items.flatMap((i) => i.records).filter((r) => r.value !== null && r.topic.endsWith('.packages'));

describe('snapshot position on MySQL 9.7', () => {
  it('never covers a transaction the snapshot cannot see (it would be neither snapshotted nor streamed)', async () => {
    const { publisher, items } = capturingPublisher();
    let racing: string[] = [];
    const end = await runSnapshot({
      ...snapshotDeps(publisher),
      // Commits while the snapshot's consistent view is already open.
      onSnapshotOpen: async () => {
        const before = await executed();
        await db.admin.query(
          "INSERT INTO packages (id, name, price_amount, currency) VALUES ('pkg_racing', 'Racing', 100, 'EUR')",
        );
        racing = added(before, await executed());
      },
    });
    expect(racing).toHaveLength(1);
    const inSnapshot = snapshotRows(items).some((r) => r.key === JSON.stringify({ id: 'pkg_racing' }));
    // Either the snapshot holds the row, or streaming from its position still reads the transaction.
    expect(inSnapshot || !contains(String(end.gtid), racing[0] ?? '')).toBe(true);
    expect(inSnapshot).toBe(false); // the view opened before the commit
  });

  it('publishes op r events the consumer decodes (no dead letters), versioned at the snapshot position', async () => {
    const { publisher, items } = capturingPublisher();
    const end: Checkpoint = await runSnapshot(snapshotDeps(publisher));
    const rows = snapshotRows(items);
    expect(rows.length).toBeGreaterThan(0);
    const decoded = rows.map((r) =>
      decodeMessage(
        'packages',
        r.key === null ? null : String(r.key),
        r.value === null ? null : String(r.value),
      ),
    );
    expect(decoded.filter((d) => d.kind !== 'change')).toEqual([]);
    expect(end.gtid).not.toBeNull();
  });
});

describe('versions on MySQL 9.7', () => {
  it('keep growing when transactions come from a new server UUID with low sequence numbers (a promoted primary)', async () => {
    const cfg = producerConfig(db, { SNAPSHOT_MODE: 'never', START_FROM: 'latest' });
    const producer = await runProducer(cfg);
    try {
      await waitFor('the producer streaming', () => producer.isReady(), 30_000);
      await db.admin.query(
        "INSERT INTO packages (id, name, price_amount, currency) VALUES ('pkg_failover', 'Before', 100, 'EUR')",
      );
      // What a new primary writes: its own UUID, sequence numbers from 1.
      const conn = await db.admin.getConnection();
      try {
        // A UUID of its own each run (the server skips a GTID it has already executed).
        await conn.query(`SET gtid_next = '${randomUUID()}:1'`);
        await conn.query("UPDATE packages SET name = 'After' WHERE id = 'pkg_failover'");
        await conn.query("SET gtid_next = 'AUTOMATIC'");
      } finally {
        conn.release();
      }
      const topic = `${cfg.topicPrefix}.${db.name}.packages`;
      const messages = (await readTopic(topic, (m) => m.filter((x) => x.value).length >= 2)).filter(
        (m) => m.value,
      );
      expect(messages).toHaveLength(2);
      const versions = messages.map((m) => {
        const d = decodeMessage('packages', m.key, m.value);
        if (d.kind !== 'change') throw new Error(JSON.stringify(d));
        return d.change.version;
      });
      const [first, second] = versions as [string, string];
      expect(second > first, `${second} after ${first}`).toBe(true);
    } finally {
      await producer.stop();
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });
});

describe('consistency token position on MySQL 9.7', () => {
  it("names each write's own commit, also under concurrent writes", async () => {
    const before = await executed();
    const writes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        inTransaction(app, async (tx) => {
          await tx.query('INSERT INTO packages (id, name, price_amount, currency) VALUES (?, ?, 100, ?)', [
            `pkg_token_${i}`,
            `Token ${i}`,
            'EUR',
          ]);
          return i;
        }),
      ),
    );
    const committed = added(before, await executed());
    expect(committed).toHaveLength(40);
    const named = writes.map((w) => w.gtid);
    expect(new Set(named).size).toBe(40);
    expect([...named].sort()).toEqual([...committed].sort());
  });
});

describe("producer's preflight on MySQL 9.7", () => {
  const refusal = async (url = db.cdcUrl) => {
    try {
      await checkSource(url, 999_999, [db.name]);
      return '';
    } catch (err) {
      expect(err).toBeInstanceOf(SourceNotSupportedError);
      return (err as Error).message;
    }
  };

  it('accepts the stack settings and grants', async () => {
    const info = await checkSource(db.cdcUrl, 999_999, [db.name]);
    expect(info.flavor).toBe('mysql');
    expect(info.version).toMatch(/^9\.7\./);
    expect(info.file).toMatch(/^mysql-bin\.\d+$/);
  });

  it('refuses a row image, format or GTID mode that would lose or misorder changes, naming the setting', async () => {
    try {
      await db.admin.query("SET GLOBAL binlog_row_image = 'MINIMAL'");
      await db.admin.query("SET GLOBAL binlog_format = 'STATEMENT'");
      await db.admin.query("SET GLOBAL gtid_mode = 'ON_PERMISSIVE'");
      const message = await refusal();
      expect(message).toContain('binlog_row_image is MINIMAL; set binlog_row_image=FULL');
      expect(message).toContain('binlog_format is STATEMENT; set binlog_format=ROW');
      expect(message).toContain('gtid_mode is ON_PERMISSIVE; set gtid_mode=ON');
    } finally {
      await db.admin.query("SET GLOBAL gtid_mode = 'ON'");
      await db.admin.query("SET GLOBAL binlog_format = 'ROW'");
      await db.admin.query("SET GLOBAL binlog_row_image = 'FULL'");
    }
    expect(await refusal()).toBe('');
  });

  it('refuses a replication user without REPLICATION CLIENT or REPLICATION SLAVE, naming the grant', async () => {
    const url = new URL(db.cdcUrl);
    url.username = 'payments_cdc_weak';
    url.password = 'weak-Passw0rd-for-the-test';
    await db.admin.query("DROP USER IF EXISTS 'payments_cdc_weak'@'127.0.0.1'");
    await db.admin.query(`CREATE USER 'payments_cdc_weak'@'127.0.0.1' IDENTIFIED BY '${url.password}'`);
    try {
      await db.admin.query(`GRANT SELECT ON \`${db.name}\`.* TO 'payments_cdc_weak'@'127.0.0.1'`);
      await db.admin.query("GRANT REPLICATION SLAVE ON *.* TO 'payments_cdc_weak'@'127.0.0.1'");
      expect(await refusal(url.toString())).toContain(
        'the replication user lacks REPLICATION CLIENT (for SHOW BINARY LOGS / BINARY LOG STATUS): GRANT REPLICATION CLIENT ON *.* TO the user',
      );
      await db.admin.query("REVOKE REPLICATION SLAVE ON *.* FROM 'payments_cdc_weak'@'127.0.0.1'");
      await db.admin.query("GRANT REPLICATION CLIENT ON *.* TO 'payments_cdc_weak'@'127.0.0.1'");
      expect(await refusal(url.toString())).toContain('the replication user lacks REPLICATION SLAVE');
    } finally {
      await db.admin.query("DROP USER IF EXISTS 'payments_cdc_weak'@'127.0.0.1'");
    }
  });
});

describe('rebuild on MySQL 9.7 after a change of server UUID', () => {
  it('rebuilds from a gtid_executed with several UUIDs, at the set size, and verifies clean', async () => {
    const prefix = `mp${uniqueSuffix()}`;
    const redis = new Redis(requireEnv('REDIS_URL'));
    const writer = new CacheWriter(redis, prefix);
    try {
      await writer.load();
      // Another UUID in the set, as after a failover (the versions case above adds one too).
      const conn = await db.admin.getConnection();
      try {
        await conn.query(`SET gtid_next = '${randomUUID()}:1'`);
        await conn.query("UPDATE packages SET name = 'Other source' WHERE id = 'pkg_starter'");
        await conn.query("SET gtid_next = 'AUTOMATIC'");
      } finally {
        conn.release();
      }
      const before = await readSourceState(app);
      expect(before.gtid?.split(',').length).toBeGreaterThan(1);
      const result = await rebuildCache({ pool: app, redis, writer, prefix, progress: silentProgress });
      expect(BigInt(result.version.slice(0, result.version.indexOf('.')))).toBeGreaterThanOrEqual(
        before.sequence,
      );
      expect(await verifyCache({ pool: app, redis, prefix })).toEqual([]);
    } finally {
      await deleteRedisKeys(redis, prefix).catch(() => undefined);
      redis.disconnect();
    }
  });
});

describe('compressed transactions on MySQL 9.7', () => {
  it('stop the producer with an error naming binlog_transaction_compression (never skipped, never retried forever)', async () => {
    const cfg = producerConfig(db, { SNAPSHOT_MODE: 'never', START_FROM: 'latest' });
    const producer = await runProducer(cfg);
    try {
      await waitFor('the producer streaming', () => producer.isReady(), 30_000);
      const conn = await db.admin.getConnection();
      try {
        await conn.query('SET SESSION binlog_transaction_compression = ON');
        await conn.query("UPDATE packages SET name = 'Compressed' WHERE id = 'pkg_starter'");
      } finally {
        await conn.query('SET SESSION binlog_transaction_compression = OFF').catch(() => undefined);
        conn.release();
      }
      await expect(producer.done).rejects.toThrow(
        /compressed transaction \(binlog_transaction_compression=ON/,
      );
    } finally {
      await producer.stop();
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });
});
