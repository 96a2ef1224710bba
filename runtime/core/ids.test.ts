import { describe, expect, it } from 'vitest';
import { isId, newId } from './ids.ts';

describe('newId', () => {
  it('makes prefixed ULID-shaped ids', () => {
    const id = newId('pur');
    expect(id).toMatch(/^pur_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(isId('pur', id)).toBe(true);
    expect(isId('pay', id)).toBe(false);
    expect(isId('pur', 'pur_../../etc')).toBe(false);
  });

  it('sorts by creation time, also within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('pay'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('orders ids of later milliseconds after earlier ones', () => {
    const a = newId('pur', Date.now() + 10_000);
    const b = newId('pur', Date.now() + 20_000);
    expect(a < b).toBe(true);
  });

  it('stays monotonic when the clock steps back', () => {
    const a = newId('pur', Date.now() + 40_000);
    const b = newId('pur', Date.now() + 30_000);
    expect(a < b).toBe(true);
  });
});
