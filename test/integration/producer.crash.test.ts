// kill -9 of the producer process in the middle of a 50k-row load, then a restart: every committed
// row reaches Kafka, each row's changes stay in order, and (events and checkpoint being one Kafka
// transaction) nothing is published twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/producer/checkpoint.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { brokers, deleteTopics, randomServerId, readTopic, waitFor } from '../support/producer.ts';

type Envelope = {
  op: string;
  after: { id: number; v: number } | null;
  source: { gtid: string; row: number };
};

const ROWS = 50_000;
const PER_TXN = 500;
const UPDATED = 5_000;

describe('producer: kill -9 during a load', () => {
  let db: TestDatabase;
  const prefix = `t${uniqueSuffix()}`;
  const children: ChildProcess[] = [];

  const start = () => {
    const child = spawn(process.execPath, ['runtime/producer/main.ts'], {
      env: {
        ...process.env,
        MYSQL_CDC_URL: db.cdcUrl,
        PRODUCER_DATABASES: db.name,
        PRODUCER_TABLES: 'loadrows',
        KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
        TOPIC_PREFIX: prefix,
        TOPIC_PARTITIONS: '3',
        PRODUCER_SERVER_ID: String(randomServerId()),
        START_FROM: 'latest',
        PRODUCER_METRICS_PORT: String(30_000 + Math.floor(Math.random() * 20_000)),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    db = await createTestDatabase({ seed: false });
    await db.admin.query('CREATE TABLE loadrows (id INT PRIMARY KEY, v INT NOT NULL)');
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await deleteTopics(prefix).catch(() => undefined);
    await db?.drop();
  });

  it('loses nothing, keeps per-row order and publishes no duplicates', async () => {
    const where = { brokers: brokers(), topicPrefix: prefix, name: prefix };
    const first = start();
    await waitFor('the first checkpoint', async () => (await readCheckpoint(where)) !== null, 30_000);

    const load = (async () => {
      for (let i = 0; i < ROWS; i += PER_TXN) {
        const values = Array.from({ length: PER_TXN }, (_, j) => `(${i + j}, 0)`).join(',');
        await db.admin.query(`INSERT INTO loadrows VALUES ${values}`);
      }
      // Second and third change of some rows: their order must survive the crash.
      for (let i = 0; i < UPDATED; i += PER_TXN) {
        await db.admin.query('UPDATE loadrows SET v = 1 WHERE id >= ? AND id < ?', [i, i + PER_TXN]);
        await db.admin.query('UPDATE loadrows SET v = 2 WHERE id >= ? AND id < ?', [i, i + PER_TXN]);
      }
    })();

    // Kill once part of the load is in Kafka, while the rest is still being written and read.
    const firstGtid = (await readCheckpoint(where))?.gtid;
    await waitFor('some progress', async () => (await readCheckpoint(where))?.gtid !== firstGtid, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = await readCheckpoint(where);
    await load;

    const second = start();
    const topic = `${prefix}.${db.name}.loadrows`;
    const expected = ROWS + 2 * UPDATED;
    const messages = await readTopic(topic, (m) => m.length >= expected, 120_000);
    // Nothing more arrives after the expected count (no duplicates trailing behind).
    const extra = await readTopic(topic, (m) => m.length > expected, 3_000);
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));

    // The kill really interrupted the work: the restart had to publish more.
    expect((await readCheckpoint(where))?.gtid).not.toBe(atKill?.gtid);
    expect(messages.length).toBe(expected);
    expect(extra.length).toBe(expected);
    const seen = new Set<string>();
    const lastVersion = new Map<string, [bigint, number]>();
    const finalValue = new Map<number, number>();
    for (const m of messages) {
      const e = JSON.parse(m.value) as Envelope;
      const id = `${e.source.gtid}/${e.source.row}`;
      expect(seen.has(id)).toBe(false);
      seen.add(id);
      const seq = BigInt(e.source.gtid.split('-')[2] ?? '0');
      const prev = lastVersion.get(m.key);
      if (prev) expect(seq > prev[0] || (seq === prev[0] && e.source.row > prev[1])).toBe(true);
      lastVersion.set(m.key, [seq, e.source.row]);
      if (e.after) finalValue.set(e.after.id, e.after.v);
    }
    expect(finalValue.size).toBe(ROWS);
    for (let id = 0; id < ROWS; id++) expect(finalValue.get(id)).toBe(id < UPDATED ? 2 : 0);
  }, 240_000);
});
