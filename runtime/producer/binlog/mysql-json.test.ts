import { describe, expect, it } from 'vitest';
import { formatDouble, mysqlJsonText } from './mysql-json.ts';

describe("MySQL's JSON text", () => {
  it('prints doubles as MySQL 9.7 does', () => {
    // What the server printed for CAST('[...]' AS JSON) of these literals.
    const values = [
      1e15, 1e16, 1.5e-15, 1e-14, 1e-15, 1.2345678901234568e17, 0.1, 1.0, -0, 5e-324, 1.7976931348623157e308,
      100.25,
    ];
    expect(`[${values.map(formatDouble).join(', ')}]`).toBe(
      '[1e15, 1e16, 0.0000000000000015, 0.00000000000001, 0.000000000000001, 1.2345678901234568e17, 0.1, 1.0, -0.0, 5e-324, 1.7976931348623157e308, 100.25]',
    );
    expect(formatDouble(-1.5e300)).toBe('-1.5e300');
    expect(formatDouble(1e-7)).toBe('0.0000001');
  });

  it('decodes a small object with inline and offset values, keys in stored order', () => {
    // {"a": 1, "b": "x"}: small object, 2 members; offsets count from the byte after the type.
    // count 2, size 22 | key entries (offset, length) 18/1, 19/1 | values: int16 1 inline, string at 20
    // | keys "a" "b" | string length 1, "x".
    const doc = Buffer.from('000200160012000100130001000501000c140061620178', 'hex');
    expect(mysqlJsonText(doc)).toBe('{"a": 1, "b": "x"}');
    expect(mysqlJsonText(Buffer.alloc(0))).toBeNull();
  });
});
