/**
 * Exact JSON representation of binlog column values (zongji decodes with dateStrings, timezone 'Z'
 * and jsonStrings):
 * - DECIMAL: string, never rounded (zongji already decodes it to a string).
 * - BIGINT: number up to 2^53 - 1, decimal string beyond (zongji's exact number-or-string rule).
 * - DATETIME/TIMESTAMP: ISO-8601 UTC with the column's fractional digits (microseconds kept);
 *   DATETIME carries no zone and is taken as UTC, like every session of this platform.
 * - DATE, TIME, YEAR, ENUM, SET, JSON, text (utf8mb4): as decoded (JSON stays its exact text).
 * - BINARY/VARBINARY/BLOB/BIT and any other byte value: base64.
 * - NULL: null.
 */
export type ColumnConverter = (value: unknown) => unknown;

const T = {
  TIMESTAMP: 7,
  DATETIME: 12,
  TIMESTAMP2: 17,
  DATETIME2: 18,
} as const;

const DATETIME_TEXT = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)$/;

function plain(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

function datetime(value: unknown): unknown {
  if (typeof value === 'string') {
    const m = DATETIME_TEXT.exec(value);
    // Zero dates ('0000-00-00 ...') have no instant: passed through unchanged.
    if (m && !value.startsWith('0000-00-00')) return `${m[1]}T${m[2]}Z`;
    return value;
  }
  return plain(value);
}

export function converterFor(typeCode: number): ColumnConverter {
  switch (typeCode) {
    case T.TIMESTAMP:
    case T.DATETIME:
    case T.TIMESTAMP2:
    case T.DATETIME2:
      return datetime;
    default:
      return plain;
  }
}

/** Converts a decoded row in place of a copy, using the table's column type codes. */
export function convertRow(
  row: Record<string, unknown>,
  converters: Map<string, ColumnConverter>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    out[name] = (converters.get(name) ?? plain)(value);
  }
  return out;
}
