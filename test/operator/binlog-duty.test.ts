// The startFrom change procedure and the position guard end to end against the real MariaDB, the
// real Kafka checkpoint store and the real producer: the rewritten checkpoint makes the producer
// resume from exactly the requested binlog position, and a purged checkpoint is reported.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineSpec, pipelineSpec } from '../../operator/api/v1alpha1/spec.ts';
import type { PipelineStatus } from '../../operator/api/v1alpha1/status.ts';
import { kafkaCheckpointStore } from '../../operator/duties/binlog/checkpoint-store.ts';
import { type BinlogDutyResult, createBinlogDuty } from '../../operator/duties/binlog/duty.ts';
import { createBinlogMetrics } from '../../operator/duties/binlog/metrics.ts';
import { readCheckpoint, writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { requireEnv } from '../support/env.ts';
import { commitAndLocate, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import {
  brokers,
  deleteTopics,
  producerConfig,
  readTopic,
  runProducer,
  waitFor,
} from '../support/producer.ts';

let db: TestDatabase;
let cdc: Pool;
let cfg: ProducerConfig;
let running: Awaited<ReturnType<typeof runProducer>> | undefined;

beforeAll(async () => {
  db = await createTestDatabase({ seed: false });
  await db.admin.query('CREATE TABLE items (id INT PRIMARY KEY, v INT NOT NULL)');
  cdc = createPool(db.cdcUrl, { connectionLimit: 2 });
  cfg = producerConfig(db, { PRODUCER_TABLES: 'items', SNAPSHOT_MODE: 'never' });
});

afterAll(async () => {
  await running?.stop();
  await deleteTopics(cfg.topicPrefix).catch(() => undefined);
  await cdc?.end();
  await db?.drop();
});

function specWith(producer: Record<string, unknown>): PipelineSpec {
  return pipelineSpec.parse({
    image: 'payments:test',
    mysql: { host: '127.0.0.1', database: db.name, credentialsSecret: 'db', serverId: 7, tables: ['items'] },
    kafka: { bootstrap: requireEnv('KAFKA_BROKERS'), topicPrefix: cfg.topicPrefix, partitions: 6 },
    redis: { url: 'redis://127.0.0.1:6379' },
    api: { authSecret: 'jwt' },
    producer,
  });
}

const statusOf = (r: BinlogDutyResult): PipelineStatus => ({ producer: { startFrom: r.status.startFrom } });

const insert = (id: number) => commitAndLocate(db.admin, 'INSERT INTO items VALUES (?, 1)', [id]);

describe('binlog duty against MariaDB, Kafka and the real producer', () => {
  const key = { namespace: 'test', name: 'pipeline' };
  const registry = new Registry();
  const metrics = createBinlogMetrics(registry);
  const duty = () =>
    createBinlogDuty({
      source: async () => cdc,
      checkpoints: (spec) => kafkaCheckpointStore(spec),
      producerPods: async () => (running ? 1 : 0),
      metrics,
    });

  it('startFrom change: stop → confirm gone → rewrite → start; the producer resumes exactly there', async () => {
    const where = { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name };
    const topic = `${cfg.topicPrefix}.${db.name}.items`;
    running = await runProducer(cfg);
    await waitFor('producer streaming', () => running?.isReady() ?? false);
    const afterFirst = await insert(1);
    await insert(2);
    await insert(3);
    await readTopic(topic, (m) => m.length >= 3, 30_000);
    // The checkpoint goes out in the same Kafka transaction as the events it covers.

    const d = duty();
    const latest = specWith({ startFrom: { kind: 'latest' }, snapshot: 'never' });
    const r0 = await d.run(key, latest, undefined, { readyReplicas: 1 });
    expect(r0.producerReplicas).toBe(1);
    expect(r0.condition).toMatchObject({ status: 'True', reason: 'PositionAvailable' });
    expect(r0.status.position?.file).toMatch(/^mariadb-bin\.\d+$/);

    const target = specWith({ startFrom: { kind: 'position', ...afterFirst }, snapshot: 'never' });
    const r1 = await d.run(key, target, statusOf(r0), { readyReplicas: 1 });
    expect(r1.producerReplicas).toBe(0);
    expect(r1.status.startFrom.change?.phase).toBe('StoppingProducer');
    expect(r1.events.map((e) => e.reason)).toEqual(['StartFromChangeStarted']);

    // Still running: nothing is written yet.
    const r1b = await d.run(key, target, statusOf(r1), { readyReplicas: 1 });
    expect(r1b.status.startFrom.change?.phase).toBe('StoppingProducer');

    await running.stop(); // what scaling the Deployment to 0 does
    running = undefined;
    const r2 = await d.run(key, target, statusOf(r1b), { readyReplicas: 0 });
    expect(r2.producerReplicas).toBe(1);
    expect(r2.status.startFrom.change?.phase).toBe('StartingProducer');
    expect(r2.events.map((e) => e.reason)).toEqual(['CheckpointRewritten']);
    const rewritten = await readCheckpoint(where);
    expect(rewritten).toMatchObject({ file: afterFirst.file, pos: afterFirst.pos });

    running = await runProducer(cfg);
    await waitFor('producer streaming again', () => running?.isReady() ?? false);
    const r3 = await d.run(key, target, statusOf(r2), { readyReplicas: 1 });
    expect(r3.status.startFrom.change).toBeUndefined();
    expect(r3.events.map((e) => e.reason)).toEqual(['StartFromApplied']);

    // Rows 2 and 3 come again (resumed right after row 1); row 1 does not.
    const ids = (ms: { value: string }[]) =>
      ms.map((m) => (JSON.parse(m.value) as { after: { id: number } }).after.id);
    const count = (ms: { value: string }[], id: number) => ids(ms).filter((i) => i === id).length;
    await readTopic(topic, (m) => count(m, 2) >= 2 && count(m, 3) >= 2, 30_000);
    // Then everything the topic holds (a sixth message would be a wrong replay: wait for it a while).
    const all = await readTopic(topic, (m) => m.length > 5, 5_000);
    expect([1, 2, 3].map((id) => count(all, id))).toEqual([1, 2, 2]);

    // Applied: the same spec again is a no-op.
    const r4 = await d.run(key, target, statusOf(r3), { readyReplicas: 1 });
    expect(r4).toMatchObject({ producerReplicas: 1, events: [] });
    await running.stop();
    running = undefined;
  });

  it('refuses a startFrom the server does not have and leaves the producer alone', async () => {
    const d = duty();
    const first = await d.run(
      key,
      specWith({ startFrom: { kind: 'latest' }, snapshot: 'never' }),
      undefined,
      {
        readyReplicas: 1,
      },
    );
    const bad = specWith({ startFrom: { kind: 'gtid', gtid: '0-2-999999999' }, snapshot: 'never' });
    const r = await d.run(key, bad, statusOf(first), { readyReplicas: 1 });
    expect(r.producerReplicas).toBe(1);
    expect(r.condition).toMatchObject({ status: 'False', reason: 'StartFromRefused' });
    expect(r.condition.message).toContain('Remedy');
    expect(r.events.map((e) => e.reason)).toEqual(['StartFromRefused']);
    expect(r.status.startFrom).toEqual(first.status.startFrom);
    // Reported once, not on every reconcile.
    expect((await d.run(key, bad, statusOf(r), { readyReplicas: 1 })).events).toEqual([]);
  });

  it('a checkpoint in a purged binlog file sets BinlogPositionValid=False with the remedy', async () => {
    const where = { brokers: brokers(), topicPrefix: cfg.topicPrefix, name: cfg.name };
    const [[s]] = (await db.admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string }[]];
    const gone = `${s?.File.replace(/\.\d+$/, '')}.000000`;
    await writeCheckpoint(where, {
      v: 1,
      gtid: null,
      file: gone,
      pos: 4,
      partial: null,
      source_ts_ms: 0,
      ts_ms: Date.now(),
    });
    const d = duty();
    const never = specWith({ startFrom: { kind: 'latest' }, snapshot: 'never' });
    const st = {
      producer: {
        startFrom: {
          applied: (await d.run(key, never, undefined, { readyReplicas: 0 })).status.startFrom.applied,
        },
      },
    } as unknown as PipelineStatus;
    const r = await d.run(key, never, st, { readyReplicas: 0 });
    expect(r.condition).toMatchObject({ status: 'False', reason: 'BinlogFilePurged' });
    expect(r.condition.message).toMatch(/purged.*Remedy/s);
    const snap = await d.run(key, specWith({ startFrom: { kind: 'latest' }, snapshot: 'when_needed' }), st, {
      readyReplicas: 0,
    });
    expect(snap.condition).toMatchObject({ status: 'False', reason: 'PurgedResnapshotting' });
    expect(await registry.metrics()).toContain(
      'payments_operator_binlog_position_valid{pipeline_namespace="test",pipeline="pipeline"} 0',
    );
  });
});
