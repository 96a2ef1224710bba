import { mysqlJsonText } from './mysql-json.ts';

/**
 * Columns whose binlog bytes the producer decodes itself instead of zongji.
 *
 * zongji 0.9 gets two packed formats wrong: a negative TIME whose fraction is zero comes out one
 * second short with an unpropagated "+1" (`-01:00:00` → `-00:63:64`), and YEAR 0000 comes out as
 * 1900. It also parses GEOMETRY into point objects, which loses the SRID and the geometry type, and
 * prints MySQL's binary JSON from parsed JavaScript values (mysql-json.ts).
 * For these columns the TableMap descriptor zongji decodes rows with is rewritten so zongji hands over
 * the raw bytes (BIT of the same byte width for fixed-size values, BLOB for GEOMETRY, whose metadata
 * is a BLOB's length size), and the producer decodes them here, following the server's own formats
 * (MySQL/MariaDB `my_time_packed_from_binary`, `Field_year`, `Field_geom`).
 */

/** A column of zongji's TableMap (`tableMap[tableId].columns[i]`), the fields used here. */
export type ZongjiColumn = { name: string; type: number; metadata?: Record<string, unknown> | null };

/** A decoder of a column's raw binlog bytes into its JSON value. */
export type RawDecoder = (raw: Buffer) => unknown;

export const TYPE = {
  BIT: 16,
  YEAR: 13,
  TIME2: 19,
  JSON: 245,
  BLOB: 252,
  GEOMETRY: 255,
} as const;

const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * TIME2 (MySQL 5.6 / MariaDB 10.1+ format) with `dec` fractional digits, as the server prints it:
 * `[-]HH:MM:SS[.f…]` (hours 2 or 3 digits). The value is one big-endian integer, offset so it sorts
 * unsigned: 3 bytes of `sign + hours:10 minutes:6 seconds:6`, then the fraction in 0-3 bytes. A
 * negative value with a non-zero fraction stores its integer part one lower and its fraction as the
 * complement (sortability), which is undone before splitting the fields.
 */
export function decodeTime2(raw: Buffer, dec: number): string {
  let intPart = raw.readUIntBE(0, 3) - 0x800000;
  let micros: number;
  if (dec >= 5) {
    // One 6-byte integer: (intPart << 24) + fraction, offset by 2^47.
    const packed = raw.readUIntBE(0, 6) - 0x800000000000;
    const neg = packed < 0;
    const abs = Math.abs(packed);
    return format(neg, Math.floor(abs / 2 ** 24), abs % 2 ** 24, dec);
  }
  if (dec >= 3) {
    let frac = raw.readUInt16BE(3);
    if (intPart < 0 && frac !== 0) {
      intPart += 1;
      frac -= 0x10000;
    }
    micros = frac * 100;
  } else if (dec >= 1) {
    let frac = raw.readUInt8(3);
    if (intPart < 0 && frac !== 0) {
      intPart += 1;
      frac -= 0x100;
    }
    micros = frac * 10_000;
  } else {
    micros = 0;
  }
  const neg = intPart < 0 || (intPart === 0 && micros < 0);
  return format(neg, Math.abs(intPart), Math.abs(micros), dec);
}

function format(neg: boolean, hms: number, micros: number, dec: number): string {
  const hours = Math.floor(hms / 4096) % 1024;
  const minutes = Math.floor(hms / 64) % 64;
  const seconds = hms % 64;
  const fraction = dec > 0 ? `.${String(micros).padStart(6, '0').slice(0, dec)}` : '';
  return `${neg ? '-' : ''}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}${fraction}`;
}

/** YEAR: one byte, 0 for the zero year 0000, otherwise year − 1900 (1901..2155). */
export function decodeYear(raw: Buffer): number {
  const b = raw.readUInt8(0);
  return b === 0 ? 0 : 1900 + b;
}

/** GEOMETRY: the server's value is a little-endian 4-byte SRID followed by the WKB. */
export function decodeGeometry(raw: Buffer): { srid: number; wkb: string } {
  return { srid: raw.readUInt32LE(0), wkb: raw.subarray(4).toString('base64') };
}

/**
 * Takes over a column if its format is one zongji decodes inexactly: rewrites zongji's descriptor
 * (in place: rows of this TableMap are decoded with it) and returns the decoder of the raw bytes it
 * will then deliver; null leaves the column to zongji.
 */
export function takeOver(column: ZongjiColumn): RawDecoder | null {
  // zongji reuses a table's descriptors across TableMap events when it read them from
  // INFORMATION_SCHEMA: a column already rewritten keeps its decoder.
  const taken = takenOver.get(column);
  if (taken) return taken;
  const decoder = rawDecoder(column);
  if (decoder) takenOver.set(column, decoder);
  return decoder;
}

const takenOver = new WeakMap<ZongjiColumn, RawDecoder>();

function rawDecoder(column: ZongjiColumn): RawDecoder | null {
  switch (column.type) {
    case TYPE.TIME2: {
      const dec = Number(column.metadata?.decimals ?? 0);
      column.type = TYPE.BIT;
      column.metadata = { bits: 8 * (3 + Math.ceil(dec / 2)) };
      return (raw) => decodeTime2(raw, dec);
    }
    case TYPE.YEAR:
      column.type = TYPE.BIT;
      column.metadata = { bits: 8 };
      return decodeYear;
    case TYPE.GEOMETRY:
      // Same metadata (length_size) as a BLOB; a null charset keeps it bytes.
      column.type = TYPE.BLOB;
      return decodeGeometry;
    case TYPE.JSON:
      // MySQL's binary JSON (MariaDB's JSON is text, a BLOB in the binlog): same length_size metadata.
      column.type = TYPE.BLOB;
      (column as { charset?: unknown }).charset = null;
      return mysqlJsonText;
    default:
      return null;
  }
}
