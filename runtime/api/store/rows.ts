// Row → view conversions. BIGINT columns arrive as strings (no silent rounding); we only accept
// values that are exact as JS numbers.

export function toSafeInt(value: unknown, column: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`column ${column} is not a safe integer: ${String(value)}`);
  return n;
}

/** SQL expression formatting a DATETIME(6) as ISO 8601 UTC with microseconds. */
export const isoSql = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%dT%H:%i:%s.%fZ')`;
