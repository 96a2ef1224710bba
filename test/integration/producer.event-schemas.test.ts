// The published JSON Schemas (runtime/core/events/schemas) match the migrated schema, and real
// change events from the producer satisfy them.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaFiles, tableColumns } from '../../runtime/core/events/generate-schemas.ts';
import { envelopeSchema } from '../../runtime/core/events/row-schema.ts';
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteTopics, producerConfig, readTopic, runProducer } from '../support/producer.ts';

const dir = new URL('../../runtime/core/events/schemas/', import.meta.url);

describe('change-event JSON Schemas', () => {
  let db: TestDatabase;
  let cfg: ProducerConfig;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    if (cfg) await deleteTopics(cfg.topicPrefix).catch(() => undefined);
    await db?.drop();
  });

  it('are up to date with the migrations (regenerate with runtime/core/events/generate-schemas.ts)', async () => {
    const expected = schemaFiles('payments', await tableColumns(db.admin, db.name));
    const committed = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(committed.sort()).toEqual([...expected.keys()].sort());
    for (const [name, body] of expected) {
      expect(JSON.parse(readFileSync(new URL(name, dir), 'utf8'))).toEqual(JSON.parse(body));
    }
  });

  it('accept the events the producer publishes for the seeded catalog', async () => {
    const columns = await tableColumns(db.admin, db.name);
    const packageCols = columns.get('packages');
    if (!packageCols) throw new Error('no packages table');
    const [[count]] = (await db.admin.query('SELECT COUNT(*) AS n FROM packages')) as unknown as [
      [{ n: string }],
    ];
    const n = Number(count?.n);
    expect(n).toBeGreaterThan(0);
    cfg = producerConfig(db, { PRODUCER_TABLES: 'packages', SNAPSHOT_MODE: 'initial' });
    const p = await runProducer(cfg);
    try {
      const messages = await readTopic(`${cfg.topicPrefix}.${db.name}.packages`, (m) => m.length >= n);
      expect(messages).toHaveLength(n);
      const schema = envelopeSchema('payments', 'packages', packageCols);
      for (const m of messages) {
        const result = schema.safeParse(JSON.parse(m.value));
        expect(result.error?.issues ?? []).toEqual([]);
      }
      // And the schema is not vacuous: a rounded amount or a local timestamp is rejected.
      const sample = JSON.parse(messages[0]?.value ?? '{}');
      const broken = { ...sample, after: { ...sample.after, created_at: '2024-01-01 00:00:00' } };
      expect(schema.safeParse(broken).success).toBe(false);
    } finally {
      await p.stop();
    }
  });
});
