import { z } from 'zod';
import { CONNECTOR_VERSION } from './envelope.ts';

/** A column as information_schema.COLUMNS describes it. */
export type ColumnInfo = {
  name: string;
  /** DATA_TYPE, e.g. 'bigint', 'varchar', 'enum' */
  dataType: string;
  /** COLUMN_TYPE, e.g. "enum('a','b')", 'bigint(20) unsigned' */
  columnType: string;
  nullable: boolean;
};

const integer = z.number().int();
const exactInteger = z.union([integer, z.string().regex(/^-?\d+$/)]);
const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/)
  .meta({ contentEncoding: 'base64' });

function enumValues(columnType: string): string[] {
  const inner = /^enum\((.*)\)$/i.exec(columnType)?.[1] ?? '';
  return [...inner.matchAll(/'((?:[^']|'')*)'/g)].map((m) => (m[1] ?? '').replace(/''/g, "'"));
}

/** A date or instant, or null for a zero/partly-zero date ('0000-00-00', '2024-02-00'), which has none. */
function calendar(pattern: RegExp, what: string): z.ZodType {
  return z
    .string()
    .regex(pattern)
    .nullable()
    .meta({ description: `${what}; null also for a zero or partly-zero date (no calendar day)` });
}

const GEOMETRY_TYPES = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
]);

/**
 * The JSON value of one column in change events — the producer's exact-value rules, the table
 * "column type → JSON" of docs/producer.md: DECIMAL as string, BIGINT number or string beyond 2^53,
 * DATETIME/TIMESTAMP ISO-8601 UTC, zero dates null, TIME as the server's text, UUID/INET as text,
 * GEOMETRY {srid, wkb}, bytes base64, JSON as its text.
 */
export function columnValueSchema(col: ColumnInfo): z.ZodType {
  const t = col.dataType.toLowerCase();
  let s: z.ZodType;
  switch (t) {
    case 'tinyint':
    case 'smallint':
    case 'mediumint':
    case 'int':
    case 'integer':
      s = integer;
      break;
    case 'year':
      s = integer.min(0).max(2155).meta({ description: 'the year; 0 for 0000' });
      break;
    case 'bigint':
      s = exactInteger;
      break;
    case 'decimal':
    case 'numeric':
      s = z.string().regex(/^-?\d+(\.\d+)?$/);
      break;
    case 'float':
    case 'double':
    case 'real':
      s = z.number();
      break;
    case 'datetime':
    case 'timestamp':
      s = calendar(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/, 'ISO-8601 UTC');
      break;
    case 'date':
      s = calendar(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD');
      break;
    case 'time':
      s = z.string().regex(/^-?\d{2,3}:\d{2}:\d{2}(\.\d{1,6})?$/);
      break;
    case 'uuid':
      s = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      break;
    case 'inet4':
      s = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/);
      break;
    case 'inet6':
      s = z
        .string()
        .regex(/^[0-9a-f:.]+$/)
        .meta({ format: 'ipv6' });
      break;
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
    case 'bit':
      s = base64;
      break;
    case 'enum':
      // '' is the invalid-value member a non-strict session can store.
      s = z.enum([...new Set([...enumValues(col.columnType), ''])] as [string, ...string[]]);
      break;
    default:
      if (GEOMETRY_TYPES.has(t)) {
        s = z.object({ srid: integer.min(0), wkb: base64 });
        break;
      }
      // char/varchar/text (utf8mb4), set (comma-joined), json (exact text)
      s = z.string();
  }
  return col.nullable ? s.nullable() : s;
}

export function rowSchema(columns: ColumnInfo[]): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const c of columns) shape[c.name] = columnValueSchema(c);
  // Loose: a column added later must not make older consumers reject events.
  return z.looseObject(shape);
}

/** The change-event envelope of one table (value of its Kafka messages; tombstones are null). */
export function envelopeSchema(db: string, table: string, columns: ColumnInfo[]) {
  const row = rowSchema(columns);
  return z
    .object({
      before: row.nullable(),
      after: row.nullable(),
      source: z.object({
        version: z.string().meta({ examples: [CONNECTOR_VERSION] }),
        connector: z.literal('mysql'),
        name: z.string(),
        ts_ms: z.number().int(),
        db: z.string().meta({ examples: [db] }),
        table: z.literal(table),
        server_id: z.number().int(),
        gtid: z.string().nullable(),
        sequence: z
          .string()
          .regex(/^\d{1,20}$/)
          .nullable()
          .optional()
          .meta({ description: 'source sequence of the transaction (grows across a change of primary)' }),
        file: z.string(),
        pos: z.number().int(),
        row: z.number().int().min(0),
        snapshot: z.enum(['true', 'false', 'last']),
      }),
      op: z.enum(['c', 'u', 'd', 'r']),
      ts_ms: z.number().int(),
      transaction: z
        .object({ id: z.string(), total_order: z.number().int(), data_collection_order: z.number().int() })
        .nullable()
        .optional(),
    })
    .meta({
      title: `Change event of ${table}`,
      description: `Value of the Kafka topic <prefix>.<db>.${table}`,
    });
}

/** JSON Schema document for a table's change events. */
export function envelopeJsonSchema(db: string, table: string, columns: ColumnInfo[]): unknown {
  return z.toJSONSchema(envelopeSchema(db, table, columns), { target: 'draft-2020-12' });
}
