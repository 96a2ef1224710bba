import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CacheWriter, RowChange } from '../core/cache/writer.ts';
import type { ConsumedMessage, MessageStream, PartitionOffset } from '../core/kafka/index.ts';
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
  const m = {
    topic: TOPIC,
    partition,
    offset: BigInt(offset),
    leaderEpoch: 0,
    key: JSON.stringify({ id }),
    value,
    timestamp: 1n,
  };
  return m as unknown as ConsumedMessage;
}
const change = (offset: number) =>
  JSON.stringify({
    op: 'c',
    before: null,
    after: row(`pur_${offset}`),
    ts_ms: 1,
    source: { table: 'purchases', gtid: `0-1-${offset}`, row: 0, ts_ms: 1 },
  });

/** Commits as `p<partition>@<offset>` strings; `offsetAfter` is offset + 1 unless `positions` says more. */
function fakeOffsets(order: string[] = []) {
  const positions = new Map<ConsumedMessage, bigint>();
  const committed: string[] = [];
  let fail = false;
  const untouched: PartitionOffset[] = [];
  const offsets: Pick<MessageStream, 'offsetAfter' | 'untouchedPositions' | 'commit'> = {
    offsetAfter: (m) => positions.get(m) ?? m.offset + 1n,
    untouchedPositions: () => untouched.splice(0),
    commit: async (list: PartitionOffset[]) => {
      if (fail) throw new Error('rebalancing');
      for (const o of list) {
        committed.push(`p${o.partition}@${o.offset}`);
        order.push(`commit p${o.partition}@${o.offset}`);
      }
    },
  };
  const failNext = (v: boolean) => {
    fail = v;
  };
  return { offsets, positions, untouched, committed, failNext };
}

function setup(
  apply: (changes: readonly RowChange[]) => Promise<boolean[]>,
  stopping = () => false,
  order: string[] = [],
  extra: Partial<ConstructorParameters<typeof Materialiser>[0]> = {},
) {
  const sent: unknown[] = [];
  const kafka = fakeOffsets(order);
  const materialiser = new Materialiser({
    tables: new Map([[TOPIC, 'purchases' as const]]),
    writer: { apply } as unknown as CacheWriter,
    deadLetters: { send: async (l: unknown[]) => void sent.push(...l) } as unknown as DeadLetters,
    offsets: kafka.offsets,
    metrics: consumerMetrics(new Registry()),
    log: createLogger('test', 'silent'),
    isStopping: stopping,
    ...extra,
  });
  return { materialiser, sent, kafka };
}

describe('Materialiser', () => {
  it('commits after the last message of each partition only once the batch is applied', async () => {
    const order: string[] = [];
    const { materialiser } = setup(
      async (changes) => {
        order.push(`apply ${changes.length}`);
        return changes.map(() => true);
      },
      () => false,
      order,
    );
    await materialiser.apply([message(0, 1, change(1)), message(0, 2, change(2)), message(1, 7, change(7))]);
    await materialiser.flushCommits();
    expect(order).toEqual(['apply 3', 'commit p0@3', 'commit p1@8']);
  });

  it('retries a failing Redis until it succeeds, committing nothing before', async () => {
    let calls = 0;
    const { materialiser, kafka } = setup(async (changes) => {
      calls++;
      if (calls < 3) throw new Error('redis down');
      expect(kafka.committed).toEqual([]);
      return changes.map(() => true);
    });
    await materialiser.apply([message(0, 1, change(1))]);
    await materialiser.flushCommits();
    expect(calls).toBe(3);
    expect(kafka.committed).toEqual(['p0@2']);
    expect(materialiser.isHealthy).toBe(true);
  });

  it('gives up on shutdown without committing the unapplied batch', async () => {
    let stopping = false;
    const { materialiser, kafka } = setup(
      async () => {
        stopping = true;
        throw new Error('redis down');
      },
      () => stopping,
    );
    await expect(materialiser.apply([message(0, 1, change(1))])).rejects.toBeInstanceOf(ShutdownInterrupted);
    materialiser.commitSettled();
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual([]);
  });

  it('dead-letters poison with its reason and still commits past it', async () => {
    const { materialiser, sent, kafka } = setup(async (changes) => changes.map(() => true));
    await materialiser.apply([message(0, 1, '{oops'), message(0, 2, change(2))]);
    await materialiser.flushCommits();
    expect(sent).toEqual([
      expect.objectContaining({
        topic: TOPIC,
        partition: 0,
        offset: 1n,
        reason: expect.stringMatching(/^undecodable/),
      }),
    ]);
    expect(kafka.committed).toEqual(['p0@3']);
  });

  it('commits the position past the commit marker that the stream reports after the last message', async () => {
    const { materialiser, kafka } = setup(async (changes) => changes.map(() => true));
    const last = message(0, 5, change(5));
    kafka.positions.set(last, 7n); // 6 is the transaction's commit marker
    await materialiser.apply([message(0, 4, change(4)), last]);
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual(['p0@7']);
  });

  it('commits a position that moved past a marker after the batch, once, when told a fetch happened', async () => {
    const { materialiser, kafka } = setup(async (changes) => changes.map(() => true));
    const last = message(0, 5, change(5));
    await materialiser.apply([last]);
    materialiser.commitSettled(); // nothing fetched since: nothing new to commit
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual(['p0@6']);

    kafka.positions.set(last, 7n); // a fetch of only the marker at 6
    materialiser.commitSettled();
    materialiser.commitSettled();
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual(['p0@6', 'p0@7']);
  });

  it('commits the positions of partitions fetched past their committed offset without any message', async () => {
    const { materialiser, kafka } = setup(async (changes) => changes.map(() => true));
    kafka.untouched.push({ topic: TOPIC, partition: 2, offset: 41n, leaderEpoch: -1 });
    materialiser.commitSettled();
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual(['p2@41']);
  });

  it('asks again at the next fetch when a commit failed', async () => {
    const { materialiser, kafka } = setup(async (changes) => changes.map(() => true));
    kafka.failNext(true);
    await materialiser.apply([message(0, 5, change(5))]);
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual([]);
    kafka.failNext(false);
    materialiser.commitSettled();
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual(['p0@6']);
  });

  it('applies a batch again until the Redis replicas confirm it, and commits only then', async () => {
    const order: string[] = [];
    let confirms = 0;
    const { materialiser, kafka } = setup(
      async (changes) => {
        order.push('apply');
        return changes.map(() => order.length === 1); // applied the first time, stale after
      },
      () => false,
      order,
      {
        replicas: {
          confirm: async () => {
            order.push('wait');
            if (++confirms < 3) throw new Error('0 of 1 Redis replicas acknowledged');
          },
        },
      },
    );
    await materialiser.apply([message(0, 1, change(1))]);
    await materialiser.flushCommits();
    expect(order).toEqual(['apply', 'wait', 'apply', 'wait', 'apply', 'wait', 'commit p0@2']);
    expect(kafka.committed).toEqual(['p0@2']);
  });

  it('dead-letters changes the source horizon refuses and applies the rest', async () => {
    const applied: string[] = [];
    const { materialiser, sent, kafka } = setup(
      async (changes) => {
        applied.push(...changes.map((c) => c.id));
        return changes.map(() => true);
      },
      () => false,
      [],
      {
        horizon: {
          beyond: async (versions) => new Map([[versions.length - 1, 'version beyond the source']]),
        },
      },
    );
    await materialiser.apply([message(0, 1, change(1)), message(0, 2, change(2))]);
    await materialiser.flushCommits();
    expect(applied).toEqual(['pur_1']);
    expect(sent).toEqual([expect.objectContaining({ offset: 2n, reason: 'version beyond the source' })]);
    expect(kafka.committed).toEqual(['p0@3']);
  });

  it('records batches applied side by side in the order they were handed over', async () => {
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const { materialiser } = setup(
      async (changes) => {
        const id = changes[0]?.id ?? '';
        order.push(`apply ${id}`);
        await new Promise<void>((r) => gates.set(id, r));
        return changes.map(() => true);
      },
      () => false,
      order,
      { onApplied: (changes) => order.push(`applied ${changes.map((c) => c.id).join(',')}`) },
    );
    const first = materialiser.apply([message(0, 1, change(1))]);
    const second = materialiser.apply([message(0, 2, change(2))]);
    await new Promise((r) => setTimeout(r, 5));
    gates.get('pur_2')?.(); // the later batch reaches Redis first
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual(['apply pur_1', 'apply pur_2']);
    gates.get('pur_1')?.();
    await Promise.all([first, second]);
    await materialiser.flushCommits();
    expect(order).toEqual([
      'apply pur_1',
      'apply pur_2',
      'applied pur_1',
      'commit p0@2',
      'applied pur_2',
      'commit p0@3',
    ]);
  });

  it('commits nothing after a batch that shutdown interrupted, even a later one that was applied', async () => {
    let stopping = false;
    const recorded: string[] = [];
    const { materialiser, kafka } = setup(
      async (changes) => {
        if (changes[0]?.id === 'pur_1') {
          await new Promise((r) => setTimeout(r, 10));
          stopping = true;
          throw new Error('redis down');
        }
        return changes.map(() => true);
      },
      () => stopping,
      [],
      { onApplied: (changes) => recorded.push(...changes.map((c) => c.id)) },
    );
    const first = materialiser.apply([message(0, 1, change(1))]);
    const second = materialiser.apply([message(0, 2, change(2))]);
    await expect(first).rejects.toBeInstanceOf(ShutdownInterrupted);
    await expect(second).rejects.toBeInstanceOf(ShutdownInterrupted);
    await materialiser.flushCommits();
    expect(kafka.committed).toEqual([]);
    expect(recorded).toEqual([]);
  });
});
