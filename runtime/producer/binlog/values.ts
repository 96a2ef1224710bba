import { decodeGeometry } from './raw-columns.ts';

/**
 * Exact JSON representation of column values, shared by the binlog reader (zongji decodes with
 * dateStrings, timezone 'Z' and jsonStrings; see raw-columns.ts for the formats decoded from raw
 * bytes) and the snapshot (mysql2, same options). The table "column type → JSON" in
 * docs/producer.md is the contract; runtime/core/events/row-schema.ts states it as JSON Schema.
 * - DECIMAL: string, never rounded (both decoders already give a string).
 * - Integers: number; BIGINT beyond ±(2^53 − 1) as its decimal string.
 * - FLOAT: the column's binary32 value as a number; DOUBLE: number.
 * - DATETIME/TIMESTAMP: ISO-8601 UTC with the column's fractional digits; DATE: YYYY-MM-DD.
 *   A zero or partly-zero date ('0000-00-00', '2024-02-00') or any other value that is not a
 *   calendar date has no ISO form: null (Debezium's choice).
 * - TIME: the server's text `[-]HH:MM:SS[.f…]`; YEAR: number, 0 for 0000.
 * - UUID, INET4, INET6 (MariaDB types, bytes in the binlog): the server's text forms.
 * - GEOMETRY: {srid, wkb} with the WKB in base64 (Debezium's Geometry).
 * - BINARY/VARBINARY/BLOB/BIT and any other byte value: base64.
 * - ENUM ('' for the invalid-value index 0), SET (comma-joined), JSON (its exact text), text: as decoded.
 * - NULL: null.
 */
export type ColumnConverter = (value: unknown) => unknown;

/** MariaDB data types that travel as BINARY(n) bytes in the binlog (only DATA_TYPE tells them apart). */
export type LogicalType = 'uuid' | 'inet4' | 'inet6';

const T = {
  FLOAT: 4,
  TIMESTAMP: 7,
  DATE: 10,
  DATETIME: 12,
  NEWDATE: 14,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  ENUM: 247,
  GEOMETRY: 255,
} as const;

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_TEXT = /^((\d{4})-(\d{2})-(\d{2})) (\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)$/;

function plain(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** True for a real day of the proleptic Gregorian calendar (years 0000-9999). */
export function isCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  return day <= days;
}

function date(value: unknown): unknown {
  if (typeof value !== 'string') return plain(value);
  const m = DATE_TEXT.exec(value);
  if (!m) return value;
  return isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3])) ? value : null;
}

function datetime(value: unknown): unknown {
  if (typeof value !== 'string') return plain(value);
  const m = DATETIME_TEXT.exec(value);
  if (!m) return value;
  return isCalendarDate(Number(m[2]), Number(m[3]), Number(m[4])) ? `${m[1]}T${m[5]}Z` : null;
}

function float(value: unknown): unknown {
  // zongji gives the stored binary32 exactly; the text protocol its shortest decimal: same number.
  return typeof value === 'number' ? Math.fround(value) : plain(value);
}

/** Bytes → text of a MariaDB logical type; anything but the expected width stays base64. */
function logical(type: LogicalType): ColumnConverter {
  const width = type === 'inet4' ? 4 : 16;
  return (value) => {
    if (!Buffer.isBuffer(value) || value.length !== width) return plain(value);
    if (type === 'uuid') return formatUuid(value);
    return type === 'inet4' ? formatInet4(value) : formatInet6(value);
  };
}

/**
 * The binlog carries UUIDs in their in-memory (text) byte order, whatever the record order
 * (plugin/type_uuid: pack() converts record → memory).
 */
export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function formatInet4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * INET6 as the server prints it: RFC 5952 (lowercase, the longest run of two or more zero groups as
 * '::', the first on a tie), IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d`
 * (when its 13th-14th bytes are not zero: `::1.2.3.4` but `::ffff`, `::1`) in dotted form.
 */
export function formatInet6(b: Buffer): string {
  if (b.subarray(0, 10).every((x) => x === 0)) {
    const v4 = formatInet4(b.subarray(12));
    if (b[10] === 0xff && b[11] === 0xff) return `::ffff:${v4}`;
    if (b[10] === 0 && b[11] === 0 && b.readUInt16BE(12) !== 0) return `::${v4}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

function enumMember(value: unknown): unknown {
  // Index 0, the '' a non-strict session stores for an invalid value, has no member: zongji gives
  // undefined (SQL NULL arrives as null).
  return value === undefined ? '' : plain(value);
}

function geometry(value: unknown): unknown {
  return Buffer.isBuffer(value) && value.length >= 4 ? decodeGeometry(value) : plain(value);
}

export function converterFor(typeCode: number, logicalType?: LogicalType): ColumnConverter {
  if (logicalType) return logical(logicalType);
  switch (typeCode) {
    case T.TIMESTAMP:
    case T.DATETIME:
    case T.TIMESTAMP2:
    case T.DATETIME2:
      return datetime;
    case T.DATE:
    case T.NEWDATE:
      return date;
    case T.FLOAT:
      return float;
    case T.GEOMETRY:
      return geometry;
    case T.ENUM:
      return enumMember;
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
