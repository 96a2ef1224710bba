import type { BinlogPosition } from '../position.ts';

/** Debezium-compatible change event (value of a Kafka message); see DESIGN.md "Contracts". */
export type Op = 'c' | 'u' | 'd' | 'r';

export type Row = Record<string, unknown>;

export type SourceInfo = {
  version: string;
  connector: 'mysql';
  name: string;
  ts_ms: number;
  db: string;
  table: string;
  server_id: number;
  gtid: string | null;
  /**
   * The transaction's source sequence as a decimal string (one integer that grows with every
   * transaction, across a change of primary: runtime/core/binlog/source.ts); row versions are built
   * from it. Null when unknown (a stream started mid-file on MySQL); consumers then use the GTID's.
   */
  sequence?: string | null;
  file: string;
  pos: number;
  row: number;
  snapshot: 'true' | 'false' | 'last';
};

export type ChangeEnvelope = {
  before: Row | null;
  after: Row | null;
  source: SourceInfo;
  op: Op;
  ts_ms: number;
  transaction?: { id: string; total_order: number; data_collection_order: number } | null;
};

export const CONNECTOR_VERSION = '1.0.0';

/** `<prefix>.<database>.<table>` (Debezium naming). */
export function topicName(prefix: string, database: string, table: string): string {
  return `${prefix}.${database}.${table}`;
}

export function positionOf(source: SourceInfo): BinlogPosition {
  return { gtid: source.gtid, file: source.file, pos: source.pos };
}
