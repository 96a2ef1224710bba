import { describe, expect, it } from 'vitest';
import { checkpointTopic, decodeCheckpoint, encodeCheckpoint, producerTransactionalId } from './format.ts';

describe('checkpoint format', () => {
  const cp = {
    v: 1 as const,
    gtid: '0-2-80',
    file: 'mariadb-bin.000001',
    pos: 41086,
    partial: { gtid: '0-2-81', rows: 2000 },
    source_ts_ms: 1,
    ts_ms: 2,
  };

  it('round-trips', () => {
    expect(decodeCheckpoint(encodeCheckpoint(cp))).toEqual(cp);
    expect(checkpointTopic('payments')).toBe('payments.__checkpoints');
    expect(producerTransactionalId('payments')).toBe('payments.producer');
  });

  it('rejects what is not a checkpoint, saying why', () => {
    expect(() => decodeCheckpoint('nope')).toThrow(/not JSON/);
    expect(() => decodeCheckpoint(JSON.stringify({ ...cp, v: 2 }))).toThrow(/v:/);
    expect(() => decodeCheckpoint(JSON.stringify({ ...cp, pos: 1 }))).toThrow(/pos/);
  });
});
