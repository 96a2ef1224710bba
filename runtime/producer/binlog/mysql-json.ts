/**
 * MySQL's binary JSON (the binlog's JSON column format, sql/json_binary.h) as the text MySQL itself
 * prints for the column, so the binlog and the snapshot publish the same string. zongji parses the
 * document into JavaScript values and prints those, which loses what MySQL keeps: a double 1.0 prints
 * as `1`, -1.5e300 as `-1.5e+300`, 1e-7 as `1e-7` (MySQL: `1.0`, `-1.5e300`, `0.0000001`), and keys that
 * look like integers move to the front of an object.
 */

const TYPE = {
  SMALL_OBJECT: 0x00,
  LARGE_OBJECT: 0x01,
  SMALL_ARRAY: 0x02,
  LARGE_ARRAY: 0x03,
  LITERAL: 0x04,
  INT16: 0x05,
  UINT16: 0x06,
  INT32: 0x07,
  UINT32: 0x08,
  INT64: 0x09,
  UINT64: 0x0a,
  DOUBLE: 0x0b,
  STRING: 0x0c,
  OPAQUE: 0x0f,
} as const;

export function mysqlJsonText(doc: Buffer): string | null {
  if (doc.length === 0) return null;
  return value(doc, doc.readUInt8(0), 1);
}

function value(buf: Buffer, type: number, at: number): string {
  switch (type) {
    case TYPE.SMALL_OBJECT:
    case TYPE.LARGE_OBJECT:
      return container(buf, at, type === TYPE.LARGE_OBJECT, true);
    case TYPE.SMALL_ARRAY:
    case TYPE.LARGE_ARRAY:
      return container(buf, at, type === TYPE.LARGE_ARRAY, false);
    case TYPE.LITERAL:
      return ['null', 'true', 'false'][buf.readUInt8(at)] ?? 'null';
    case TYPE.INT16:
      return String(buf.readInt16LE(at));
    case TYPE.UINT16:
      return String(buf.readUInt16LE(at));
    case TYPE.INT32:
      return String(buf.readInt32LE(at));
    case TYPE.UINT32:
      return String(buf.readUInt32LE(at));
    case TYPE.INT64:
      return buf.readBigInt64LE(at).toString();
    case TYPE.UINT64:
      return buf.readBigUInt64LE(at).toString();
    case TYPE.DOUBLE:
      return formatDouble(buf.readDoubleLE(at));
    case TYPE.STRING: {
      const [length, start] = varLength(buf, at);
      return JSON.stringify(buf.toString('utf8', start, start + length));
    }
    case TYPE.OPAQUE: {
      // A SQL value cast into JSON (DECIMAL, DATETIME, ...): kept as MySQL's own base64 form.
      const fieldType = buf.readUInt8(at);
      const [length, start] = varLength(buf, at + 1);
      return JSON.stringify(`base64:type${fieldType}:${buf.toString('base64', start, start + length)}`);
    }
    default:
      throw new Error(`unknown MySQL binary JSON type ${type}`);
  }
}

/** An object or array: count, size, (key entries,) value entries, then the keys and values. */
function container(buf: Buffer, at: number, large: boolean, object: boolean): string {
  const w = large ? 4 : 2;
  const read = (o: number) => (large ? buf.readUInt32LE(o) : buf.readUInt16LE(o));
  const count = read(at);
  const keyEntries = at + 2 * w;
  const valueEntries = keyEntries + (object ? count * (w + 2) : 0);
  const items: string[] = [];
  for (let i = 0; i < count; i++) {
    const entry = valueEntries + i * (1 + w);
    const type = buf.readUInt8(entry);
    const inline =
      type === TYPE.LITERAL ||
      type === TYPE.INT16 ||
      type === TYPE.UINT16 ||
      (large && (type === TYPE.INT32 || type === TYPE.UINT32));
    const text = value(buf, type, inline ? entry + 1 : at + read(entry + 1));
    if (!object) {
      items.push(text);
      continue;
    }
    const keyEntry = keyEntries + i * (w + 2);
    const keyAt = at + read(keyEntry);
    const key = buf.toString('utf8', keyAt, keyAt + buf.readUInt16LE(keyEntry + w));
    items.push(`${JSON.stringify(key)}: ${text}`);
  }
  return object ? `{${items.join(', ')}}` : `[${items.join(', ')}]`;
}

/** Variable-length unsigned integer: 7 bits per byte, low groups first, high bit = more. */
function varLength(buf: Buffer, at: number): [number, number] {
  let length = 0;
  for (let i = 0; i < 5; i++) {
    const b = buf.readUInt8(at + i);
    length += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [length, at + i + 1];
  }
  throw new Error('MySQL binary JSON: string length too long');
}

/** DBL_DIG: MySQL prints a double in plain notation up to this many integer digits. */
const MAX_DECPT_FOR_F_FORMAT = 15;

/**
 * A double as MySQL's JSON prints it (my_gcvt with the widest field, then `.0` on an integral
 * value): the shortest round-trip digits, plain notation when the decimal point lies within
 * [-14, 15] digits (or inside the digits), else `d.ddde[-]x`.
 */
export function formatDouble(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', exp = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const decpt = Number(exp) + 1; // value = 0.digits × 10^decpt
  const len = digits.length;
  if (decpt >= -MAX_DECPT_FOR_F_FORMAT + 1 && (decpt <= MAX_DECPT_FOR_F_FORMAT || len > decpt)) {
    let text: string;
    if (decpt <= 0) text = `0.${'0'.repeat(-decpt)}${digits}`;
    else if (decpt < len) text = `${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
    else text = `${digits}${'0'.repeat(decpt - len)}.0`;
    return sign + text;
  }
  const e = decpt - 1;
  return `${sign}${digits[0]}${len > 1 ? `.${digits.slice(1)}` : ''}e${e}`;
}
