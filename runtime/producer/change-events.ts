import {
  type ChangeEnvelope,
  CONNECTOR_VERSION,
  type Op,
  type Row,
  topicName,
} from '../core/events/envelope.ts';
import type { OutgoingRecord } from '../core/kafka/index.ts';
import type { RowChange } from './binlog/reader.ts';

export type SourceIdentity = { name: string; serverId: number; topicPrefix: string };

/** Kafka key of a row: its primary key as JSON, columns in key order (null without a primary key). */
export function keyOf(primaryKey: string[], row: Row): string | null {
  if (primaryKey.length === 0) return null;
  const key: Row = {};
  for (const col of primaryKey) key[col] = row[col] ?? null;
  return JSON.stringify(key);
}

type EnvelopeInput = {
  op: Op;
  before: Row | null;
  after: Row | null;
  db: string;
  table: string;
  gtid: string | null;
  sequence: bigint | null;
  file: string;
  pos: number;
  row: number;
  tsMs: number;
  snapshot: 'true' | 'false' | 'last';
};

export function envelope(src: SourceIdentity, e: EnvelopeInput, nowMs: number): ChangeEnvelope {
  return {
    before: e.before,
    after: e.after,
    source: {
      version: CONNECTOR_VERSION,
      connector: 'mysql',
      name: src.name,
      ts_ms: e.tsMs,
      db: e.db,
      table: e.table,
      server_id: src.serverId,
      gtid: e.gtid,
      sequence: e.sequence === null ? null : e.sequence.toString(),
      file: e.file,
      pos: e.pos,
      row: e.row,
      snapshot: e.snapshot,
    },
    op: e.op,
    ts_ms: nowMs,
    transaction: e.gtid ? { id: e.gtid, total_order: e.row + 1, data_collection_order: e.row + 1 } : null,
  };
}

/** Topic names per prefix, database and table, built once: the same string object for every event. */
const topics = new Map<string, Map<string, Map<string, string>>>();
function topicOf(prefix: string, db: string, table: string): string {
  let byDb = topics.get(prefix);
  if (!byDb) {
    byDb = new Map();
    topics.set(prefix, byDb);
  }
  let byTable = byDb.get(db);
  if (!byTable) {
    byTable = new Map();
    byDb.set(db, byTable);
  }
  let topic = byTable.get(table);
  if (topic === undefined) {
    topic = topicName(prefix, db, table);
    byTable.set(table, topic);
  }
  return topic;
}

const utf8 = (s: string | null) => (s === null ? null : Buffer.from(s, 'utf8'));

/**
 * The Kafka records of one row change: the event, plus a tombstone after a delete. An update that
 * changes the primary key becomes a delete (+ tombstone) of the old key and a create of the new one,
 * as Debezium does, so each key's partition sees its own history. Key and value are UTF-8 JSON,
 * encoded here once: the publisher sizes batches by their length and the Kafka client sends them as
 * they are.
 */
export function recordsOf(src: SourceIdentity, change: RowChange, nowMs: number): OutgoingRecord[] {
  const topic = topicOf(src.topicPrefix, change.db, change.table);
  const base = { ...change, snapshot: 'false' as const };
  if (change.op === 'u' && change.before && change.after) {
    const oldKey = keyOf(change.primaryKey, change.before);
    const newKey = keyOf(change.primaryKey, change.after);
    if (oldKey !== newKey) {
      const old = utf8(oldKey);
      return [
        {
          topic,
          key: old,
          value: utf8(JSON.stringify(envelope(src, { ...base, op: 'd', after: null }, nowMs))),
        },
        { topic, key: old, value: null },
        {
          topic,
          key: utf8(newKey),
          value: utf8(JSON.stringify(envelope(src, { ...base, op: 'c', before: null }, nowMs))),
        },
      ];
    }
  }
  const row = change.after ?? change.before;
  const key = utf8(row ? keyOf(change.primaryKey, row) : null);
  const records: OutgoingRecord[] = [{ topic, key, value: utf8(JSON.stringify(envelope(src, base, nowMs))) }];
  if (change.op === 'd' && key !== null) records.push({ topic, key, value: null });
  return records;
}
