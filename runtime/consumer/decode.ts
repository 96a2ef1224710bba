import { type CachedTable, canonicalRow, RowShapeError } from '../core/cache/rows.ts';
import type { RowChange } from '../core/cache/writer.ts';
import type { ChangeEnvelope } from '../core/events/envelope.ts';
import { versionOf, versionOfGtid } from '../core/position.ts';

export type DecodedChange = RowChange & {
  /** The source transaction (the applied position the consumer records); null for snapshot rows. */
  gtid: string | null;
  /** Source commit time (binlog header; seconds precision on MariaDB). */
  sourceTsMs: number;
  /** When the producer emitted the event. */
  emittedTsMs: number;
};

export type Decoded =
  | { kind: 'change'; change: DecodedChange }
  /** The Kafka tombstone that follows a delete (for log compaction); the delete event itself carried it. */
  | { kind: 'tombstone' }
  | { kind: 'poison'; reason: string };

const OPS = new Set(['c', 'u', 'd', 'r']);

/**
 * Turns one Kafka message of a cached table's topic into a versioned row change, or says exactly why it
 * cannot (the message then goes to the dead-letter topic). Never throws.
 */
export function decodeMessage(table: CachedTable, key: string | null, value: string | null): Decoded {
  if (value === null || value === undefined || value === '') return { kind: 'tombstone' };
  let envelope: ChangeEnvelope;
  try {
    envelope = JSON.parse(value) as ChangeEnvelope;
  } catch (err) {
    return { kind: 'poison', reason: `undecodable: value is not JSON (${(err as Error).message})` };
  }
  try {
    return { kind: 'change', change: toChange(table, key, envelope) };
  } catch (err) {
    const prefix = err instanceof RowShapeError ? 'schema mismatch' : 'invalid envelope';
    return { kind: 'poison', reason: `${prefix}: ${(err as Error).message}` };
  }
}

function toChange(table: CachedTable, key: string | null, envelope: ChangeEnvelope): DecodedChange {
  if (typeof envelope !== 'object' || envelope === null) throw new Error('not an object');
  const { op, source } = envelope;
  if (typeof op !== 'string' || !OPS.has(op)) throw new Error(`unknown op ${JSON.stringify(op)}`);
  if (typeof source !== 'object' || source === null) throw new Error('no source block');
  if (source.table !== table)
    throw new Error(`source.table ${JSON.stringify(source.table)} on the ${table} topic`);
  if (!Number.isInteger(source.row) || source.row < 0)
    throw new Error('source.row must be a non-negative integer');
  const version = versionOfSource(source);
  const isDelete = op === 'd';
  const image = isDelete ? envelope.before : envelope.after;
  if (typeof image !== 'object' || image === null) {
    throw new Error(`op ${op} needs ${isDelete ? 'before' : 'after'}`);
  }
  const row = canonicalRow(table, image);
  const id = String(row.id);
  const keyId = parseKeyId(key);
  if (keyId !== id)
    throw new Error(`message key ${JSON.stringify(key)} does not match row id ${JSON.stringify(id)}`);
  return {
    table,
    id,
    version,
    after: isDelete ? null : row,
    // An update's before image names the owner a row may move away from (its copy there is dropped).
    before: isDelete ? row : beforeImage(table, op, envelope.before),
    gtid: typeof source.gtid === 'string' ? source.gtid : null,
    sourceTsMs: Number(source.ts_ms),
    emittedTsMs: Number(envelope.ts_ms),
  };
}

/**
 * The change's version: from the source sequence the producer computed (it survives a change of
 * primary), else from the GTID's own sequence number (events written before sequences existed).
 */
function versionOfSource(source: ChangeEnvelope['source']): string {
  const { sequence, gtid, row } = source;
  if (sequence !== undefined && sequence !== null) {
    if (typeof sequence !== 'string' || !/^\d{1,20}$/.test(sequence))
      throw new Error(`source.sequence ${JSON.stringify(sequence)} is not a decimal sequence`);
    return versionOf(BigInt(sequence), row);
  }
  if (typeof gtid !== 'string')
    throw new Error('source.gtid and source.sequence are missing: versions need one');
  return versionOfGtid(gtid, row);
}

/** An update's before image, canonical; null when the event has none (or it is not a row). */
function beforeImage(table: CachedTable, op: string, before: unknown): RowChange['before'] {
  if (op !== 'u' || typeof before !== 'object' || before === null) return null;
  try {
    return canonicalRow(table, before as Record<string, unknown>);
  } catch {
    return null;
  }
}

/** The key is the primary key as JSON: `{"id":"..."}`. */
function parseKeyId(key: string | null): string | null {
  if (key === null) return null;
  try {
    const parsed = JSON.parse(key) as { id?: unknown };
    return typeof parsed?.id === 'string' ? parsed.id : null;
  } catch {
    return null;
  }
}
