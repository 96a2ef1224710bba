/**
 * What the binlog's TableMap does not say (or zongji misreads) about a table's columns, read from
 * information_schema when needed:
 * - MariaDB UUID/INET4/INET6 travel as BINARY(16)/BINARY(4) bytes; only DATA_TYPE names them.
 * - MariaDB counts GEOMETRY columns in the FULL-metadata charset lists and zongji 0.9 does not, so
 *   every character column after a GEOMETRY one gets its neighbour's charset (a TEXT after a
 *   GEOMETRY came out as base64 bytes, a latin1 VARCHAR as mojibake). The charsets of such a
 *   table's columns are set from CHARACTER_SET_NAME in zongji's descriptors before it decodes rows.
 * Facts are the current schema's; a column is only corrected when its name and width still match.
 */

import type { ZongjiColumn } from './raw-columns.ts';
import type { LogicalType } from './values.ts';

export type ColumnFact = { dataType: string; charset: string | null };
export type ColumnFacts = Map<string, ColumnFact>;

/** zongji's TableMap entry (`zongji.tableMap[tableId]`), the fields corrected here. */
export type ZongjiTable = {
  columns: Array<ZongjiColumn & { charset?: string | null }>;
  columnSchemas?: Array<{ CHARACTER_SET_NAME?: string | null; COLUMN_TYPE?: string }>;
};

const TYPE = { VARCHAR: 15, BLOB: 252, VAR_STRING: 253, STRING: 254, GEOMETRY: 255 } as const;
const CHARACTER_TYPES = new Set<number>([TYPE.VARCHAR, TYPE.BLOB, TYPE.VAR_STRING, TYPE.STRING]);
const LOGICAL_WIDTH: Record<LogicalType, number> = { uuid: 16, inet4: 4, inet6: 16 };

export const COLUMN_FACTS_SQL = `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, CHARACTER_SET_NAME AS charset
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`;

export function parseFacts(rows: Array<{ name: unknown; dataType: unknown; charset: unknown }>): ColumnFacts {
  const facts: ColumnFacts = new Map();
  for (const r of rows) {
    facts.set(String(r.name), {
      dataType: String(r.dataType).toLowerCase(),
      charset: r.charset == null ? null : String(r.charset),
    });
  }
  return facts;
}

const isBinaryCandidate = (c: ZongjiColumn & { charset?: string | null }) =>
  c.type === TYPE.STRING && c.charset == null && [4, 16].includes(Number(c.metadata?.max_length));

/** Whether this TableMap's columns need facts (call before the raw-column take-over rewrites types). */
export function needsFacts(table: ZongjiTable): boolean {
  return table.columns.some((c) => c.type === TYPE.GEOMETRY || isBinaryCandidate(c));
}

/** The MariaDB types behind BINARY(4)/(16) columns whose name and width still match. */
export function logicalTypes(table: ZongjiTable, facts: ColumnFacts): Map<string, LogicalType> {
  const out = new Map<string, LogicalType>();
  for (const c of table.columns) {
    if (!isBinaryCandidate(c)) continue;
    const type = facts.get(c.name)?.dataType as LogicalType | undefined;
    if (type && LOGICAL_WIDTH[type] === Number(c.metadata?.max_length)) out.set(c.name, type);
  }
  return out;
}

/**
 * Sets the character columns' charsets from the facts when the table has a GEOMETRY column (the
 * only case zongji misassigns them). `characterIndexes` are the positions of the character columns
 * as the TableMap typed them, before any take-over rewrote a type.
 */
export function fixCharsets(table: ZongjiTable, characterIndexes: number[], facts: ColumnFacts): void {
  for (const i of characterIndexes) {
    const column = table.columns[i];
    const fact = column ? facts.get(column.name) : undefined;
    if (!column || !fact || fact.dataType === 'uuid' || fact.dataType.startsWith('inet')) continue;
    const charset = fact.charset === 'binary' ? null : fact.charset;
    column.charset = charset;
    const schema = table.columnSchemas?.[i];
    if (!schema) continue;
    schema.CHARACTER_SET_NAME = charset;
    // zongji tells BINARY/VARBINARY from CHAR/VARCHAR by this prefix (BINARY(n) by its byte width).
    if (column.type === TYPE.STRING || column.type === TYPE.VARCHAR || column.type === TYPE.VAR_STRING) {
      const fixed = column.type === TYPE.STRING;
      const width = Number(column.metadata?.max_length);
      schema.COLUMN_TYPE =
        charset === null
          ? `${fixed ? 'binary' : 'varbinary'}(${width})`
          : `${fixed ? 'char' : 'varchar'}(${width})`;
    }
  }
}

/** Positions of the character columns of a TableMap (GEOMETRY excluded, as zongji does). */
export function characterIndexes(table: ZongjiTable): number[] {
  return table.columns.flatMap((c, i) => (CHARACTER_TYPES.has(c.type) ? [i] : []));
}

/** Whether zongji's charset assignment of this TableMap is off (see the module comment). */
export function charsetsMisread(table: ZongjiTable): boolean {
  return table.columns.some((c) => c.type === TYPE.GEOMETRY);
}
