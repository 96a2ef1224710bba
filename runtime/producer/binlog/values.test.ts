import { describe, expect, it } from 'vitest';
import { converterFor, convertRow } from './values.ts';

describe('binlog value conversion', () => {
  it('turns DATETIME/TIMESTAMP text into ISO-8601 UTC keeping the fraction', () => {
    for (const type of [7, 12, 17, 18]) {
      const conv = converterFor(type);
      expect(conv('2024-02-29 23:59:59.123456')).toBe('2024-02-29T23:59:59.123456Z');
      expect(conv('2024-02-29 23:59:59')).toBe('2024-02-29T23:59:59Z');
      expect(conv('0000-00-00 00:00:00')).toBe('0000-00-00 00:00:00');
      expect(conv(null)).toBeNull();
    }
  });

  it('keeps text that only looks like a date in other columns', () => {
    expect(converterFor(15)('2024-02-29 23:59:59')).toBe('2024-02-29 23:59:59');
  });

  it('encodes bytes as base64, bigints exactly and undefined as null', () => {
    const conv = converterFor(252);
    expect(conv(Buffer.from([0, 255, 16]))).toBe('AP8Q');
    expect(conv(2n ** 63n)).toBe('9223372036854775808');
    expect(conv(5n)).toBe(5);
    expect(conv(undefined)).toBeNull();
    expect(conv('12.3400')).toBe('12.3400');
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
