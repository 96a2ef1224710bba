// Kafka transactions sized by bytes against the real broker (message.max.bytes 1 MiB):
// - one SQL transaction of 2,000 updates of one `packages` row (all in one partition: ~2.5 MB of
//   events) reaches Kafka whole and in order, and the producer stays ready;
// - a single change event larger than the limit is published as a reference in <prefix>.__oversized
//   (row key and size) while the rest of the stream goes on;
// - a producer whose transactions keep failing answers /readyz 503 with the reason and shows it in
//   producer_publish_stalled, and becomes ready again once Kafka accepts them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';

import { requireEnv, uniqueSuffix } from '../support/env.ts';
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
import { spawnService } from '../support/service-process.ts';
import { freePort } from '../support/wait.ts';

type Envelope = {
  op: string;
  after: Record<string, unknown> | null;
  source: { gtid: string; row: number };
};

const metricValue = async (registry: { metrics: () => Promise<string> }, name: string) => {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : undefined;
};

describe('producer: transactions bounded by the broker’s message size', () => {
  let db: TestDatabase;
  const prefixes: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const p of prefixes) await deleteTopics(p).catch(() => undefined);
    await db?.drop();
  });

  it('publishes a 2,000-update transaction of one packages row whole, in order, staying ready', async () => {
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'packages' });
    prefixes.push(cfg.topicPrefix);
    const p = await runProducer(cfg);
    try {
      await waitFor('the producer streaming', () => p.isReady(), 30_000);
      const [rows] = await db.admin.query<import('mysql2').RowDataPacket[]>(
        'SELECT id FROM packages ORDER BY id LIMIT 1',
      );
      const id = String(rows[0]?.id);
      const conn = await db.admin.getConnection();
      try {
        await conn.query('BEGIN');
        for (let i = 0; i < 2000; i++) {
          await conn.query('UPDATE packages SET description = ? WHERE id = ?', [
            `burst ${i} ${'d'.repeat(300)}`,
            id,
          ]);
        }
        await conn.query('COMMIT');
      } finally {
        conn.release();
      }
      let notReady = 0;
      const sampler = setInterval(() => {
        if (!p.isReady()) notReady++;
      }, 50);
      const topic = `${cfg.topicPrefix}.${db.name}.packages`;
      const messages = await readTopic(topic, (m) => m.length >= 2000, 90_000).finally(() =>
        clearInterval(sampler),
      );
      expect(messages.length).toBe(2000);
      const events = messages.map((m) => JSON.parse(m.value) as Envelope);
      // One source transaction, every row change once and in binlog order.
      expect(new Set(events.map((e) => e.source.gtid)).size).toBe(1);
      expect(events.map((e) => e.source.row)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      expect(events.at(-1)?.after?.description).toBe(`burst 1999 ${'d'.repeat(300)}`);
      // It did not fit one Kafka batch: the broker would have refused it.
      const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m.value) + Buffer.byteLength(m.key), 0);
      expect(bytes).toBeGreaterThan(1_048_588);
      expect(notReady).toBe(0);
      expect(p.readiness()).toEqual({ ready: true });
      expect(await metricValue(p.registry, 'producer_kafka_send_failures_total')).toBe(0);
      expect(await metricValue(p.registry, 'producer_publish_stalled')).toBe(0);
    } finally {
      await p.stop();
    }
  }, 180_000);

  it('publishes a reference for an event over the limit and goes on with the stream', async () => {
    await db.admin.query('CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT NOT NULL)');
    const cfg = producerConfig(db, { PRODUCER_TABLES: 'docs' });
    prefixes.push(cfg.topicPrefix);
    const p = await runProducer(cfg);
    try {
      await waitFor('the producer streaming', () => p.isReady(), 30_000);
      await db.admin.query("INSERT INTO docs VALUES (1, 'small')");
      await db.admin.query('INSERT INTO docs VALUES (2, ?)', ['z'.repeat(1_500_000)]);
      await db.admin.query("INSERT INTO docs VALUES (3, 'after')");
      await db.admin.query("UPDATE docs SET body = 'small again' WHERE id = 1");

      const topic = `${cfg.topicPrefix}.${db.name}.docs`;
      const messages = await readTopic(topic, (m) => m.length >= 3, 60_000);
      expect(messages.map((m) => m.key)).toEqual(['{"id":1}', '{"id":3}', '{"id":1}']);
      expect(messages.map((m) => (JSON.parse(m.value) as Envelope).after?.body)).toEqual([
        'small',
        'after',
        'small again',
      ]);
      const refs = await readTopic(`${cfg.topicPrefix}.__oversized`, (m) => m.length >= 1, 30_000);
      expect(refs).toHaveLength(1);
      expect(refs[0]?.key).toBe('{"id":2}');
      const ref = JSON.parse(refs[0]?.value ?? '{}');
      expect(ref).toMatchObject({ reason: 'message_too_large', topic, key: '{"id":2}', op: 'c' });
      expect(ref.bytes).toBeGreaterThan(1_500_000);
      expect(ref.limit_bytes).toBeLessThan(1_048_588);
      expect(ref.source).toMatchObject({ db: db.name, table: 'docs', row: 0 });
      expect(p.readiness()).toEqual({ ready: true });
      expect(await metricValue(p.registry, 'producer_oversized_events_total')).toBe(1);
      // The checkpoint moved past it: a restart does not meet it again.
      expect(p.isReady()).toBe(true);
    } finally {
      await p.stop();
    }
  }, 120_000);

  it('answers /readyz 503 with the reason while its transactions keep failing, and recovers', async () => {
    await db.admin.query('CREATE TABLE notes (id INT PRIMARY KEY, v INT NOT NULL)');
    const prefix = `t${uniqueSuffix()}`;
    prefixes.push(prefix);
    const port = await freePort();
    const svc = spawnService('producer', {
      MYSQL_CDC_URL: db.cdcUrl,
      PRODUCER_DATABASES: db.name,
      PRODUCER_TABLES: 'notes',
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      TOPIC_PREFIX: prefix,
      TOPIC_PARTITIONS: '1',
      PRODUCER_SERVER_ID: String(randomServerId()),
      PRODUCER_METRICS_PORT: String(port),
      LOG_LEVEL: 'error',
    });
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
    };
    const stalled = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/^producer_publish_stalled\{[^}]*\} (\S+)/m.exec(text)?.[1]);
    };
    const topic = `${prefix}.${db.name}.notes`;
    const admin = createKafkaAdmin({ brokers: brokers(), clientId: `stall-${uniqueSuffix()}` });
    try {
      await waitFor('the producer ready', async () => (await readyz()).status === 200, 60_000, 200);
      await db.admin.query('INSERT INTO notes VALUES (1, 1)');
      await readTopic(topic, (m) => m.length >= 1, 30_000);
      // The change topic disappears under the running producer (auto-creation is off): every
      // transaction carrying the next change fails.
      await admin.deleteTopics([topic]);
      await waitFor('the topic gone', async () => !(await admin.listTopics()).includes(topic), 30_000, 200);
      await db.admin.query('INSERT INTO notes VALUES (2, 2)');
      const down = await waitFor(
        '/readyz 503',
        async () => {
          const r = await readyz();
          return r.status === 503 ? r : undefined;
        },
        60_000,
        200,
      );
      expect(down.body.status).toBe('not_ready');
      expect(down.body.reason).toMatch(/Kafka transactions failing: \d+ attempts in a row \(last: .+\)/);
      expect(await stalled()).toBe(1);

      await admin.ensureTopics([{ name: topic, partitions: 1, replicationFactor: 1 }]);
      await waitFor('ready again', async () => (await readyz()).status === 200, 60_000, 200);
      expect(await stalled()).toBe(0);
      const after = await readTopic(topic, (m) => m.length >= 1, 30_000);
      expect(after.map((m) => m.key)).toEqual(['{"id":2}']);
    } catch (err) {
      throw new Error(`${err}\n--- producer output ---\n${svc.output()}`);
    } finally {
      await admin.close();
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
  }, 180_000);
});
