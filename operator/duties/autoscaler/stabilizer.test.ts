import { describe, expect, it } from 'vitest';
import { record, windowMax } from './stabilizer.ts';

describe('stabilisation window', () => {
  it('is empty at first', () => {
    expect(windowMax([])).toBeUndefined();
  });
  it('keeps the highest recommendation of the window at the head', () => {
    let w = record([], 0, 5, 100);
    w = record(w, 10, 3, 100);
    w = record(w, 20, 4, 100);
    expect(windowMax(w)).toBe(5);
    expect(w).toEqual([
      { atMs: 0, replicas: 5 },
      { atMs: 20, replicas: 4 },
    ]);
  });
  it('an entry exactly windowMs old has left the window; one ms younger has not', () => {
    const w = record([], 0, 5, 100);
    expect(windowMax(record(w, 99, 1, 100))).toBe(5);
    expect(windowMax(record(w, 100, 1, 100))).toBe(1);
  });
  it('a newer equal recommendation replaces the older one (it outlives it)', () => {
    const w = record(record([], 0, 3, 100), 50, 3, 100);
    expect(w).toEqual([{ atMs: 50, replicas: 3 }]);
  });
  it('window 0 remembers only the latest recommendation', () => {
    const w = record(record([], 0, 5, 0), 0, 2, 0);
    expect(w).toEqual([{ atMs: 0, replicas: 2 }]);
  });
  it('stays as short as the number of distinct descending values', () => {
    let w = record([], 0, 1, 1_000_000);
    for (let t = 1; t < 10_000; t++) w = record(w, t, (t % 3) + 1, 1_000_000);
    expect(w.length).toBeLessThanOrEqual(3);
    expect(windowMax(w)).toBe(3);
  });
});
