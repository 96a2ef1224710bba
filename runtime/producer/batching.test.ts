import { describe, expect, it } from 'vitest';
import type { OutgoingRecord } from '../core/kafka/index.ts';
import { budgetOf, itemsThatFit, recordBytes } from './batching.ts';

const rec = (topic: string, bytes: number): OutgoingRecord => ({
  topic,
  key: null,
  value: 'x'.repeat(bytes),
});
const item = (...records: OutgoingRecord[]) => ({ records });

describe('transaction sizing', () => {
  it('counts key, value, headers and framing', () => {
    expect(recordBytes({ topic: 't', key: 'ab', value: 'cde' })).toBe(5 + 32);
    expect(recordBytes({ topic: 't', key: null, value: null })).toBe(32);
    expect(recordBytes({ topic: 't', key: 'k', value: 'v', headers: { h: 'vv' } })).toBe(2 + 32 + 3 + 10);
  });

  it('keeps headroom below the limit', () => {
    expect(budgetOf(1_048_588)).toBeLessThan(1_048_588 - 60_000);
    expect(budgetOf(1_048_588, 0.5)).toBeLessThan(budgetOf(1_048_588) / 2);
    expect(budgetOf(100)).toBe(1024);
  });

  it('stops at the record limit or at a topic’s byte budget, each topic counted on its own', () => {
    const budget = (t: string) => (t === 'a' ? 1000 : 10_000);
    const items = [item(rec('a', 400)), item(rec('b', 3000)), item(rec('a', 400)), item(rec('a', 400))];
    // 'a' reaches its budget with the fourth item; 'b' does not limit 'a'.
    expect(itemsThatFit(items, 100, budget)).toBe(3);
    expect(itemsThatFit(items, 2, budget)).toBe(2);
    // The first item always goes, even over the budget (its records were checked before).
    expect(itemsThatFit([item(rec('a', 5000)), item(rec('a', 1))], 100, budget)).toBe(1);
    expect(itemsThatFit([], 100, budget)).toBe(0);
  });
});
