import { describe, expect, it } from 'vitest';
import { converterFor, convertRow, formatInet6, isCalendarDate } from './values.ts';

describe('binlog value conversion', () => {
  it('turns DATETIME/TIMESTAMP text into ISO-8601 UTC keeping the fraction', () => {
    for (const type of [7, 12, 17, 18]) {
      const conv = converterFor(type);
      expect(conv('2024-02-29 23:59:59.123456')).toBe('2024-02-29T23:59:59.123456Z');
      expect(conv('2024-02-29 23:59:59')).toBe('2024-02-29T23:59:59Z');
      expect(conv(null)).toBeNull();
    }
  });

  it('publishes zero, partly-zero and impossible dates as null (they have no ISO form)', () => {
    for (const type of [7, 12, 17, 18]) {
      const conv = converterFor(type);
      expect(conv('0000-00-00 00:00:00')).toBeNull();
      expect(conv('0000-00-00 00:00:00.000000')).toBeNull();
      expect(conv('2024-02-00 00:00:00.500')).toBeNull();
      expect(conv('2024-00-10 10:00:00')).toBeNull();
      expect(conv('2023-02-29 10:00:00')).toBeNull();
      expect(conv('0000-01-01 00:00:00')).toBe('0000-01-01T00:00:00Z');
    }
    const date = converterFor(10);
    expect(date('2024-02-29')).toBe('2024-02-29');
    expect(date('0000-00-00')).toBeNull();
    expect(date('2024-02-00')).toBeNull();
    expect(date('2024-04-31')).toBeNull();
    expect(isCalendarDate(2000, 2, 29)).toBe(true);
    expect(isCalendarDate(1900, 2, 29)).toBe(false);
  });

  it('keeps text that only looks like a date in other columns', () => {
    expect(converterFor(15)('2024-02-29 23:59:59')).toBe('2024-02-29 23:59:59');
    expect(converterFor(15)('2024-02-00')).toBe('2024-02-00');
  });

  it('encodes bytes as base64, bigints exactly and undefined as null', () => {
    const conv = converterFor(252);
    expect(conv(Buffer.from([0, 255, 16]))).toBe('AP8Q');
    expect(conv(2n ** 63n)).toBe('9223372036854775808');
    expect(conv(5n)).toBe(5);
    expect(conv(undefined)).toBeNull();
    expect(conv('12.3400')).toBe('12.3400');
  });

  it('gives UUID, INET4 and INET6 bytes their text forms, other binary columns stay base64', () => {
    const uuid = Buffer.from('123e4567e89b12d3a456426614174000', 'hex');
    expect(converterFor(254, 'uuid')(uuid)).toBe('123e4567-e89b-12d3-a456-426614174000');
    expect(converterFor(254)(uuid)).toBe(uuid.toString('base64'));
    expect(converterFor(254, 'inet4')(Buffer.from([192, 168, 0, 1]))).toBe('192.168.0.1');
    const v6 = (hex: string) => formatInet6(Buffer.from(hex.padStart(32, '0'), 'hex'));
    expect(v6('')).toBe('::');
    expect(v6('1')).toBe('::1');
    expect(v6('ffff')).toBe('::ffff');
    expect(v6('ffff01020304')).toBe('::ffff:1.2.3.4');
    expect(v6('01020304')).toBe('::1.2.3.4');
    expect(v6('0100')).toBe('::100');
    expect(v6('20010db8000000000000ff0000428329')).toBe('2001:db8::ff00:42:8329');
    expect(v6('00010000000000010000000000010001')).toBe('1::1:0:0:1:1');
    expect(converterFor(254, 'inet6')(null)).toBeNull();
  });

  it("publishes ENUM's invalid-value member (index 0) as '', not null", () => {
    expect(converterFor(247)(undefined)).toBe('');
    expect(converterFor(247)(null)).toBeNull();
    expect(converterFor(247)('y z')).toBe('y z');
  });

  it('gives FLOAT its binary32 value and GEOMETRY {srid, wkb}', () => {
    expect(converterFor(4)(0.1)).toBe(Math.fround(0.1));
    expect(converterFor(255)(Buffer.from('e6100000aabb', 'hex'))).toEqual({ srid: 4326, wkb: 'qrs=' });
  });

  it('converts a row by its column types', () => {
    const row = convertRow(
      { id: 1, at: '2024-01-01 00:00:00.5', raw: Buffer.from('hi') },
      new Map([
        ['id', converterFor(3)],
        ['at', converterFor(18)],
        ['raw', converterFor(15)],
      ]),
    );
    expect(row).toEqual({ id: 1, at: '2024-01-01T00:00:00.5Z', raw: 'aGk=' });
  });
});
