import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { CacheWriter, RowChange } from '../core/cache/writer.ts';
import type { ConsumedMessage } from '../core/kafka/index.ts';
import { createLogger } from '../core/logger.ts';
import type { DeadLetters } from './dead-letters.ts';
import { Materialiser, ShutdownInterrupted } from './materialiser.ts';
import { consumerMetrics } from './metrics.ts';

const TOPIC = 'p.db.purchases';
const row = (id: string) => ({
  id,
  user_id: 'u1',
  package_id: 'pkg',
  amount: 1,
  currency: 'EUR',
  created_at: '2026-11-25T21:00:00.000000Z',
  updated_at: '2026-11-25T21:00:00.000000Z',
});

function message(partition: number, offset: number, value: string | null, id = `pur_${offset}`) {
  const commit = vi.fn(async () => {});
  const m = {
    topic: TOPIC,
    partition,
    offset: BigInt(offset),
    key: JSON.stringify({ id }),
    value,
    timestamp: 1n,
    commit,
  };
  return { m: m as unknown as ConsumedMessage, commit };
}
const change = (offset: number) =>
  JSON.stringify({
    op: 'c',
    before: null,
    after: row(`pur_${offset}`),
    ts_ms: 1,
    source: { table: 'purchases', gtid: `0-1-${offset}`, row: 0, ts_ms: 1 },
  });

function setup(apply: (changes: readonly RowChange[]) => Promise<boolean[]>, stopping = () => false) {
  const sent: unknown[] = [];
  const materialiser = new Materialiser({
    tables: new Map([[TOPIC, 'purchases' as const]]),
    writer: { apply } as unknown as CacheWriter,
    deadLetters: { send: async (l: unknown[]) => void sent.push(...l) } as unknown as DeadLetters,
    metrics: consumerMetrics(new Registry()),
    log: createLogger('test', 'silent'),
    isStopping: stopping,
  });
  return { materialiser, sent };
}

describe('Materialiser', () => {
  it('commits the last offset of each partition only after the batch is applied', async () => {
    const order: string[] = [];
    const { materialiser } = setup(async (changes) => {
      order.push(`apply ${changes.length}`);
      return changes.map(() => true);
    });
    const a = message(0, 1, change(1));
    const b = message(0, 2, change(2));
    const c = message(1, 7, change(7));
    a.commit.mockImplementation(async () => void order.push('commit p0@1'));
    b.commit.mockImplementation(async () => void order.push('commit p0@2'));
    c.commit.mockImplementation(async () => void order.push('commit p1@7'));
    await materialiser.apply([a.m, b.m, c.m]);
    await materialiser.flushCommits();
    expect(order).toEqual(['apply 3', 'commit p0@2', 'commit p1@7']);
  });

  it('retries a failing Redis until it succeeds, committing nothing before', async () => {
    let calls = 0;
    const { materialiser } = setup(async (changes) => {
      calls++;
      if (calls < 3) throw new Error('redis down');
      return changes.map(() => true);
    });
    const a = message(0, 1, change(1));
    await materialiser.apply([a.m]);
    expect(calls).toBe(3);
    expect(a.commit).toHaveBeenCalledTimes(1);
    expect(materialiser.isHealthy).toBe(true);
  });

  it('gives up on shutdown without committing the unapplied batch', async () => {
    let stopping = false;
    const { materialiser } = setup(
      async () => {
        stopping = true;
        throw new Error('redis down');
      },
      () => stopping,
    );
    const a = message(0, 1, change(1));
    await expect(materialiser.apply([a.m])).rejects.toBeInstanceOf(ShutdownInterrupted);
    expect(a.commit).not.toHaveBeenCalled();
  });

  it('dead-letters poison with its reason and still commits past it', async () => {
    const { materialiser, sent } = setup(async (changes) => changes.map(() => true));
    const bad = message(0, 1, '{oops');
    const good = message(0, 2, change(2));
    await materialiser.apply([bad.m, good.m]);
    expect(sent).toEqual([
      expect.objectContaining({
        topic: TOPIC,
        partition: 0,
        offset: 1n,
        reason: expect.stringMatching(/^undecodable/),
      }),
    ]);
    expect(good.commit).toHaveBeenCalledTimes(1);
  });
});
