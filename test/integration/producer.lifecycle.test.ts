// One active producer per pipeline (a second instance waits for the lock, then takes over) and
// surviving a broken binlog connection, refusing (or re-snapshotting past) a checkpoint position the
// server cannot serve, against the real MariaDB and Kafka.
import mysql from 'mysql2/promise';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../runtime/core/checkpoint/format.ts';
import { writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { BinlogReader } from '../../runtime/producer/binlog/reader.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { lockName } from '../../runtime/producer/lock.ts';
import { createProducerMetrics } from '../../runtime/producer/metrics.ts';
import { ResumingBinlogStream } from '../../runtime/producer/pipeline.ts';
import { BinlogPositionNotOnServerError, BinlogPurgedError } from '../../runtime/producer/position-errors.ts';
import { Publisher, publisherOptionsFrom } from '../../runtime/producer/publisher.ts';
import { requireEnv } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import {
  brokers,
  deleteTopics,
  producerConfig,
  randomServerId,
  readTopic,
  runProducer,
  waitFor,
} from '../support/producer.ts';

type Envelope = { op: string; after: { id: number } | null; source: { gtid: string; row: number } };
const idsOf = (ms: Awaited<ReturnType<typeof readTopic>>) =>
  ms
    .filter((m) => m.value)
    .map((m) => (JSON.parse(m.value) as Envelope).after?.id ?? -1)
    .sort((a, b) => a - b); // keys spread over partitions: compare as sets, duplicates included

describe('producer: lock and reconnect', () => {
  let db: TestDatabase;
  let cfg: ProducerConfig;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query('CREATE TABLE things (id INT PRIMARY KEY)');
    cfg = producerConfig(db, { PRODUCER_TABLES: 'things', PRODUCER_LOCK_WAIT_SECONDS: '1' });
  });

  afterAll(async () => {
    await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  it('lets a second instance wait for the lock and take over when the first stops', async () => {
    const topic = `${cfg.topicPrefix}.${db.name}.things`;
    const a = await runProducer(cfg);
    let bStarted = false;
    const bPromise = runProducer({ ...cfg, serverId: randomServerId() }).then((b) => {
      bStarted = true;
      return b;
    });
    await db.admin.query('INSERT INTO things VALUES (1)');
    expect(idsOf(await readTopic(topic, (m) => m.length >= 1))).toEqual([1]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(bStarted).toBe(false);

    await a.stop();
    const b = await bPromise;
    await waitFor('the second instance streaming', () => b.isReady());
    await db.admin.query('INSERT INTO things VALUES (2)');
    const messages = await readTopic(topic, (m) => m.length >= 2);
    expect(idsOf(messages)).toEqual([1, 2]);
    expect(idsOf(await readTopic(topic, () => false, 1500))).toEqual([1, 2]);
    await b.stop();
  });

  it('runs two pipelines whose long names share their first 64 characters side by side', async () => {
    // PRODUCER_NAME allows 100 characters; the MySQL lock name 64.
    const base = `${cfg.topicPrefix}.${'shared-long-pipeline-name-'.repeat(3)}`;
    const blue = { ...cfg, name: `${base}blue`, serverId: randomServerId() };
    const green = { ...cfg, name: `${base}green`, serverId: randomServerId() };
    const a = await runProducer(blue);
    try {
      // Before: both cut to the same 64 characters, so the second waited for the first's lock.
      const b = await Promise.race([
        runProducer(green),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error('the second pipeline is waiting for the first one’s lock')),
            8_000,
          ),
        ),
      ]);
      try {
        await waitFor('both streaming', () => a.isReady() && b.isReady(), 30_000);
        const admin = await mysql.createConnection(requireEnv('MYSQL_ADMIN_URL'));
        try {
          const [rows] = await admin.query<mysql.RowDataPacket[]>(
            'SELECT IS_USED_LOCK(?) AS a, IS_USED_LOCK(?) AS b',
            [lockName(blue.name), lockName(green.name)],
          );
          expect(rows[0]?.a).not.toBeNull();
          expect(rows[0]?.b).not.toBeNull();
          expect(rows[0]?.a).not.toBe(rows[0]?.b);
        } finally {
          await admin.end();
        }
      } finally {
        await b.stop();
      }
    } finally {
      await a.stop();
    }
  }, 60_000);

  it('takes its lock back when the lock connection is killed, and keeps publishing', async () => {
    const topic = `${cfg.topicPrefix}.${db.name}.things`;
    const admin = await mysql.createConnection(requireEnv('MYSQL_ADMIN_URL'));
    const p = await runProducer(cfg);
    try {
      const holder = async () => {
        const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [
          lockName(cfg.name),
        ]);
        return rows[0]?.id === null || rows[0]?.id === undefined ? null : Number(rows[0].id);
      };
      const before = await holder();
      expect(before).not.toBeNull();
      await admin.query(`KILL ${before}`);
      await waitFor('the lock taken back', async () => {
        const now = await holder();
        return now !== null && now !== before;
      });
      await db.admin.query('INSERT INTO things VALUES (10)');
      const ids = idsOf(await readTopic(topic, (m) => idsOf(m).includes(10)));
      expect(ids).toContain(10);
      expect(await p.registry.getSingleMetric('producer_lock_held')?.get()).toMatchObject({
        values: [{ value: 1 }],
      });
    } finally {
      await p.stop();
      await admin.end();
    }
  });

  it('reconnects after its binlog connection is killed and continues without gaps or repeats', async () => {
    const topic = `${cfg.topicPrefix}.${db.name}.things`;
    const admin = await mysql.createConnection(requireEnv('MYSQL_ADMIN_URL'));
    try {
      const dumps = async () => {
        const [rows] = await admin.query<mysql.RowDataPacket[]>(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' AND USER = 'payments_cdc'",
        );
        return new Set(rows.map((r) => Number(r.ID)));
      };
      const before = await dumps();
      const p = await runProducer(cfg);
      await waitFor('the binlog dump thread', () => p.isReady());
      const ours = [...(await dumps())].filter((id) => !before.has(id));
      expect(ours).toHaveLength(1);
      await db.admin.query('INSERT INTO things VALUES (3)');
      await readTopic(topic, (m) => m.length >= 4);

      await admin.query(`KILL ${ours[0]}`);
      await db.admin.query('INSERT INTO things VALUES (4)');
      const messages = await readTopic(topic, (m) => m.length >= 5, 30_000);
      expect(idsOf(messages)).toEqual([1, 2, 3, 4, 10]);
      const reconnects = await p.registry.getSingleMetric('producer_binlog_reconnects_total')?.get();
      expect(reconnects?.values[0]?.value).toBeGreaterThanOrEqual(1);
      await p.stop();
    } finally {
      await admin.end();
    }
  });
});

describe('producer: checkpoint position the server cannot serve', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query('CREATE TABLE kept (id INT PRIMARY KEY)');
    await db.admin.query('INSERT INTO kept VALUES (1), (2)');
  });

  afterAll(async () => {
    await db?.drop();
  });

  const checkpointAt = (cfg: ProducerConfig, at: Pick<Checkpoint, 'gtid' | 'file' | 'pos'>) =>
    writeCheckpoint(
      { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name },
      { v: 1, ...at, partial: null, source_ts_ms: 0, ts_ms: Date.now() },
    );

  const binlogs = async () => {
    const [files] = await db.admin.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
    const [gtids] = await db.admin.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS pos');
    const g = gtids[0];
    const oldest = String(files[0]?.Log_name);
    return { oldest, basename: oldest.replace(/\.\d+$/, ''), gtid: String(g?.pos ?? '') };
  };

  /** The error startProducer refuses with; a producer that starts instead is stopped and null returned. */
  const refusal = async (cfg: ProducerConfig) => {
    const started = Date.now();
    const err = await runProducer(cfg).then(
      async (p) => {
        await p.stop();
        return null;
      },
      (e: unknown) => e,
    );
    // Refused before streaming: no waiting on a server that would accept the GTID and wait for it.
    expect(Date.now() - started).toBeLessThan(20_000);
    return err;
  };

  it('refuses a GTID this server never had, with the remedy (a fresh server would wait for it forever)', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'kept', SNAPSHOT_MODE: 'never' });
    try {
      const { gtid, oldest } = await binlogs();
      // Everything the server has, plus a domain it never had.
      const domain = 4_000_000_000 + Math.floor(Math.random() * 1000);
      await checkpointAt(cfg, {
        gtid: [gtid, `${domain}-2-1`].filter(Boolean).join(','),
        file: oldest,
        pos: 4,
      });
      const err = await refusal(cfg);
      expect(err).toBeInstanceOf(BinlogPositionNotOnServerError);
      expect(err).toMatchObject({ reason: 'GtidNotOnServer' });
      expect(String((err as Error).message)).toMatch(
        /does not exist on this server.*SNAPSHOT_MODE=when_needed/,
      );
    } finally {
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });

  it('refuses a file/pos checkpoint in a binlog file older than the oldest one left (purged)', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'kept', SNAPSHOT_MODE: 'never' });
    try {
      const { basename } = await binlogs();
      await checkpointAt(cfg, { gtid: null, file: `${basename}.000000`, pos: 4 });
      const err = await refusal(cfg);
      expect(err).toBeInstanceOf(BinlogPurgedError);
      expect(err).toMatchObject({ reason: 'BinlogFilePurged' });
      expect(String((err as Error).message)).toMatch(/SNAPSHOT_MODE=when_needed/);
    } finally {
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });

  it('refuses a file/pos checkpoint that is not the start of an event', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'kept', SNAPSHOT_MODE: 'never' });
    try {
      const { oldest } = await binlogs();
      await checkpointAt(cfg, { gtid: null, file: oldest, pos: 5 }); // inside the file header event
      const err = await refusal(cfg);
      expect(err).toBeInstanceOf(BinlogPositionNotOnServerError);
      expect(err).toMatchObject({ reason: 'NotAnEventStart' });
    } finally {
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });

  it('keeps error 1236 from the stream as the second line: a position gone when the reader connects', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'kept' });
    const log = createLogger('producer-test', cfg.logLevel);
    const metrics = createProducerMetrics(new Registry());
    const publisher = new Publisher(publisherOptionsFrom(cfg, log, metrics));
    const reader = new BinlogReader({
      mysqlUrl: cfg.mysqlUrl,
      serverId: cfg.serverId,
      databases: cfg.databases,
      tableSelected: () => true,
      ops: cfg.ops,
      log,
    });
    const src = { name: cfg.name, serverId: 0, topicPrefix: cfg.topicPrefix };
    const streamer = new ResumingBinlogStream({ reader, publisher, src, log, metrics });
    // Any other outcome would be retried forever: stop after a while so the test fails instead.
    const giveUp = setTimeout(() => void streamer.stop(), 20_000);
    try {
      await publisher.init();
      const { basename } = await binlogs();
      // The pre-start check is bypassed, as if the file had been purged between check and connect.
      const err = await streamer
        .run({ start: { file: `${basename}.000000`, pos: 4 }, checkpoint: null })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(BinlogPurgedError);
      expect(err).toMatchObject({ reason: 'ServerRefused' });
      expect(String((err as Error).message)).toMatch(/SNAPSHOT_MODE=when_needed/);
    } finally {
      clearTimeout(giveUp);
      await streamer.stop();
      reader.stop();
      await publisher.close();
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  });

  it('re-snapshots with SNAPSHOT_MODE=when_needed and then streams', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'kept', SNAPSHOT_MODE: 'when_needed' });
    // A domain the binlog never had: "never existed" on a fresh server, "purged" once the server's
    // oldest binlog no longer starts empty; either way the position cannot be served.
    const { oldest } = await binlogs();
    await checkpointAt(cfg, { gtid: '9-2-1', file: oldest, pos: 4 });
    const q = await runProducer(cfg);
    try {
      const topic = `${cfg.topicPrefix}.${db.name}.kept`;
      const snap = await readTopic(topic, (m) => m.length >= 2, 60_000);
      expect(idsOf(snap)).toEqual([1, 2]);
      await waitFor('streaming after the snapshot', () => q.isReady(), 30_000);
      await db.admin.query('INSERT INTO kept VALUES (3)');
      expect(idsOf(await readTopic(topic, (m) => m.length >= 3))).toEqual([1, 2, 3]);
    } finally {
      await q.stop();
      await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    }
  }, 90_000);
});
