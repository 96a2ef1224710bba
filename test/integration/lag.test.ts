// The autoscaler's lag reader against the real broker: a backlog on a real topic, a real consumer
// group with committed offsets, and the exact lag per partition and in total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../operator/duties/autoscaler/decide.ts';
import { readGroupLag } from '../../operator/duties/autoscaler/lag-reader.ts';
import {
  type ConsumedMessage,
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  type KafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';

const brokers = () => requireEnv('KAFKA_BROKERS').split(',');
const PARTITIONS = 4;
const BACKLOG = 250;

async function take(
  stream: AsyncIterable<ConsumedMessage>,
  n: number,
  ms = 30_000,
): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        for await (const m of stream) {
          out.push(m);
          if (out.length >= n) return;
        }
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${out.length}/${n} messages within ${ms} ms`)), ms);
      }),
    ]);
    return out;
  } finally {
    clearTimeout(timer);
  }
}

describe('consumer-group lag from the real broker', () => {
  const prefix = `t_lag_${uniqueSuffix()}`;
  const topics = [`${prefix}.db.purchases`, `${prefix}.db.payments`];
  const [purchases, payments] = topics as [string, string];
  const groupId = `${prefix}-consumer`;
  let admin: KafkaAdmin;

  beforeAll(async () => {
    admin = createKafkaAdmin({ brokers: brokers(), clientId: `${prefix}-admin` });
    await admin.ensureTopics([
      { name: purchases, partitions: PARTITIONS, replicationFactor: 1 },
      { name: payments, partitions: 2, replicationFactor: 1 },
    ]);
  });

  afterAll(async () => {
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.close();
  });

  it('reports missing topics, then no committed offsets, then the exact lag of a partially consumed backlog', async () => {
    const missing = await readGroupLag(admin, groupId, [`${prefix}.db.nope`]);
    expect(missing.observation).toEqual({ kind: 'topics-missing', topics: [`${prefix}.db.nope`] });

    // Non-transactional so end offsets count records only (no commit markers).
    const producer = createDurableProducer({ brokers: brokers(), clientId: `${prefix}-p` });
    const records = Array.from({ length: BACKLOG }, (_, i) => ({
      topic: i % 5 === 0 ? payments : purchases,
      key: JSON.stringify({ id: `row-${i}` }),
      value: JSON.stringify({ i }),
    }));
    const producedAt = performance.now();
    await producer.send(records);
    await producer.close();

    const before = await readGroupLag(admin, groupId, topics);
    const reactionMs = performance.now() - producedAt;
    expect(before.observation).toEqual({ kind: 'no-committed-offsets', partitions: PARTITIONS });
    expect(before.partitions.reduce((s, p) => s + p.end, 0n)).toBe(BigInt(BACKLOG));
    console.info(`lag read after a ${BACKLOG}-record backlog: ${reactionMs.toFixed(0)} ms (produce + read)`);

    // Consume everything, commit only part of each partition.
    const consumer = createGroupConsumer({ brokers: brokers(), clientId: `${prefix}-c`, groupId });
    const expected = new Map<string, bigint>();
    try {
      const got = await take(await consumer.consume(topics), BACKLOG);
      const byPartition = new Map<string, ConsumedMessage[]>();
      for (const m of got) {
        const k = `${m.topic}/${m.partition}`;
        byPartition.set(k, [...(byPartition.get(k) ?? []), m]);
      }
      for (const [k, msgs] of byPartition) {
        msgs.sort((a, b) => (a.offset < b.offset ? -1 : 1));
        const end = BigInt(msgs.length);
        const upto = msgs[Math.floor(msgs.length / 3)];
        if (!upto) throw new Error(`no message in ${k}`);
        await upto.commit();
        expected.set(k, end - (upto.offset + 1n));
      }
    } finally {
      await consumer.close();
    }

    const after = await readGroupLag(admin, groupId, topics);
    for (const p of after.partitions) {
      expect({ at: `${p.topic}/${p.partition}`, lag: p.lag }).toEqual({
        at: `${p.topic}/${p.partition}`,
        lag: expected.get(`${p.topic}/${p.partition}`) ?? p.end,
      });
    }
    const total = [...expected.values()].reduce((s, v) => s + v, 0n);
    expect(after.observation).toEqual({
      kind: 'lag',
      total,
      partitions: PARTITIONS,
      uncommittedPartitions: 0,
    });

    // The decision the operator takes from that real observation.
    const d = decide({
      nowMs: Date.now(),
      current: 1,
      observation: after.observation,
      policy: {
        minReplicas: 1,
        maxReplicas: 4,
        lagThreshold: 20,
        activationLag: 0,
        scaleDownStabilizationMs: 60_000,
      },
      memory: undefined,
    });
    expect(d.desired).toBe(Math.min(4, Math.ceil(Number(total) / 20)));
  });
});
