import { describe, expect, it } from 'vitest';
import { decodeTime2, decodeYear, takeOver, type ZongjiColumn } from './raw-columns.ts';

/** TIME2 bytes as the server writes them (my_time_packed_to_binary), for `[-]h:m:s.micros`. */
function time2(neg: boolean, h: number, m: number, s: number, micros: number, dec: number): Buffer {
  const hms = h * 4096 + m * 64 + s;
  const packed = (neg ? -1 : 1) * (hms * 2 ** 24 + micros);
  const out = Buffer.alloc(3 + Math.ceil(dec / 2));
  if (dec >= 5) {
    out.writeUIntBE(packed + 0x800000000000, 0, 6);
    return out;
  }
  // Integer part rounds toward −∞ (C >> 24), the fraction keeps the sign of the value (C %).
  const intPart = Math.floor(packed / 2 ** 24);
  const frac = packed - intPart * 2 ** 24 - (packed < 0 && micros > 0 ? 2 ** 24 : 0);
  out.writeUIntBE(intPart + 0x800000, 0, 3);
  if (dec >= 3) out.writeUInt16BE((frac / 100) & 0xffff, 3);
  else if (dec >= 1) out.writeUInt8((frac / 10_000) & 0xff, 3);
  return out;
}

describe('TIME2 from its packed bytes', () => {
  it('decodes negative values whose seconds (and minutes) are zero', () => {
    expect(decodeTime2(time2(true, 1, 0, 0, 0, 0), 0)).toBe('-01:00:00');
    expect(decodeTime2(time2(true, 165, 39, 0, 0, 6), 6)).toBe('-165:39:00.000000');
    expect(decodeTime2(time2(true, 838, 59, 59, 0, 0), 0)).toBe('-838:59:59');
    expect(decodeTime2(time2(true, 0, 0, 0, 500_000, 1), 1)).toBe('-00:00:00.5');
  });

  it('round-trips every precision on both sides of zero', () => {
    for (let dec = 0; dec <= 6; dec++) {
      const unit = 10 ** (6 - dec);
      for (const [h, m, s] of [
        [0, 0, 0],
        [0, 0, 1],
        [1, 0, 0],
        [12, 34, 56],
        [100, 59, 0],
        [838, 59, 59],
      ] as const) {
        for (const micros of dec === 0 ? [0] : [0, unit, 999_999 - (999_999 % unit)]) {
          for (const neg of [false, true]) {
            if (neg && h + m + s + micros === 0) continue;
            const frac = dec > 0 ? `.${String(micros).padStart(6, '0').slice(0, dec)}` : '';
            const text = `${neg ? '-' : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${frac}`;
            expect(decodeTime2(time2(neg, h, m, s, micros, dec), dec)).toBe(text);
          }
        }
      }
    }
  });
});

describe('YEAR and the column take-over', () => {
  it('decodes YEAR 0000 as 0 and 1901..2155 as the year', () => {
    expect(decodeYear(Buffer.from([0]))).toBe(0);
    expect(decodeYear(Buffer.from([1]))).toBe(1901);
    expect(decodeYear(Buffer.from([255]))).toBe(2155);
  });

  it('rewrites TIME2/YEAR/GEOMETRY descriptors so zongji hands over raw bytes, and leaves others', () => {
    const time: ZongjiColumn = { name: 't', type: 19, metadata: { decimals: 3 } };
    expect(takeOver(time)).not.toBeNull();
    expect(time).toEqual({ name: 't', type: 16, metadata: { bits: 40 } });
    const year: ZongjiColumn = { name: 'y', type: 13, metadata: {} };
    expect(takeOver(year)?.(Buffer.from([124]))).toBe(2024);
    expect(year.type).toBe(16);
    const geo: ZongjiColumn = { name: 'g', type: 255, metadata: { length_size: 4 } };
    expect(takeOver(geo)?.(Buffer.from('e6100000aabb', 'hex'))).toEqual({ srid: 4326, wkb: 'qrs=' });
    expect(geo).toEqual({ name: 'g', type: 252, metadata: { length_size: 4 } });
    expect(takeOver(time)?.(time2(false, 1, 2, 3, 4000, 3))).toBe('01:02:03.004'); // reused descriptor
    const int: ZongjiColumn = { name: 'i', type: 3, metadata: {} };
    expect(takeOver(int)).toBeNull();
    expect(int.type).toBe(3);
  });
});
