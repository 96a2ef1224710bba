// runtime/core/kafka against the real broker: topic creation, transactional durable writes,
// tombstones, key → partition stability, read_committed consumption and consumer-group lag.
import { Connection, describeTransactionsV0 } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsumedMessage,
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  isFencedError,
  type KafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { TRANSACTION_TIMEOUT_MS } from '../../runtime/core/kafka/producer.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';

const brokers = () => requireEnv('KAFKA_BROKERS').split(',');

async function take(
  stream: AsyncIterable<ConsumedMessage>,
  n: number,
  ms = 20_000,
): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${out.length}/${n} messages within ${ms} ms`)), ms);
    });
    await Promise.race([
      (async () => {
        for await (const m of stream) {
          out.push(m);
          if (out.length >= n) return;
        }
      })(),
      timeout,
    ]);
    return out;
  } finally {
    clearTimeout(timer);
  }
}

describe('core kafka module', () => {
  const prefix = `t_kc_${uniqueSuffix()}`;
  const topic = `${prefix}.db.items`;
  let admin: KafkaAdmin;

  beforeAll(async () => {
    admin = createKafkaAdmin({ brokers: brokers(), clientId: `${prefix}-admin` });
    await admin.ensureTopics([{ name: topic, partitions: 4, replicationFactor: 1 }]);
  });

  afterAll(async () => {
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
  });

  it('creates topics with the configured partitions and is idempotent', async () => {
    await admin.ensureTopics([{ name: topic, partitions: 4, replicationFactor: 1 }]);
    expect((await admin.partitionCounts([topic])).get(topic)).toBe(4);
  });

  it('publishes transactionally; a consumer group reads values, tombstones and per-key partitions', async () => {
    const producer = createDurableProducer({
      brokers: brokers(),
      clientId: `${prefix}-p`,
      transactionalId: `${prefix}-tx`,
    });
    expect(producer.transactional).toBe(true);
    const records = [];
    for (let i = 0; i < 20; i++) {
      records.push({ topic, key: JSON.stringify({ id: `k${i % 5}` }), value: JSON.stringify({ i }) });
    }
    records.push({ topic, key: JSON.stringify({ id: 'k1' }), value: null });
    await producer.send(records);
    await producer.close();

    const groupId = `${prefix}-g`;
    const consumer = createGroupConsumer({ brokers: brokers(), clientId: `${prefix}-c`, groupId });
    try {
      const stream = await consumer.consume([topic]);
      const got = await take(stream, records.length);
      const partitionOfKey = new Map<string, number>();
      for (const m of got) {
        const prev = partitionOfKey.get(m.key);
        if (prev !== undefined) expect(m.partition).toBe(prev);
        partitionOfKey.set(m.key, m.partition);
      }
      const tomb = got.find((m) => m.value === undefined || m.value === null);
      expect(tomb?.key).toBe(JSON.stringify({ id: 'k1' }));
      // Per key, values arrive in the order they were sent.
      const k0 = got.filter((m) => m.key === JSON.stringify({ id: 'k0' })).map((m) => JSON.parse(m.value).i);
      expect(k0).toEqual([0, 5, 10, 15]);

      const lagBefore = await admin.consumerLag(groupId, [topic]);
      expect(lagBefore.reduce((s, p) => s + p.lag, 0n)).toBeGreaterThan(0n);
      for (const m of got) await m.commit();
      // Committed up to the last record; what remains is at most the transaction's commit marker.
      const lagAfter = await admin.consumerLag(groupId, [topic]);
      for (const p of lagAfter) expect(p.lag).toBeLessThanOrEqual(1n);
    } finally {
      await consumer.close();
    }
  });

  it('a read_committed group never sees aborted transactions, however many one producer id left', async () => {
    // Each failed send aborts its transaction; the transactional id keeps its producer id, so the
    // topic holds several aborted transactions of one producer between committed ones.
    const t = `${prefix}.db.aborts`;
    const tooLarge = `${prefix}.db.too-large`;
    await admin.ensureTopics([
      { name: t, partitions: 1, replicationFactor: 1 },
      { name: tooLarge, partitions: 1, replicationFactor: 1 },
    ]);
    const send = async (value: string, abort: boolean) => {
      const p = createDurableProducer({
        brokers: brokers(),
        clientId: `${prefix}-ab`,
        transactionalId: `${prefix}-ab`,
      });
      try {
        const records = [{ topic: t, key: 'k', value }];
        // Over the broker's message.max.bytes: rejected after the first record was appended.
        if (abort) records.push({ topic: tooLarge, key: 'k', value: 'x'.repeat(2_000_000) });
        const failed = await p.send(records).then(
          () => false,
          () => true,
        );
        expect(failed).toBe(abort);
      } finally {
        await p.close();
      }
    };
    await send('c1', false);
    for (const v of ['a1', 'a2', 'a3']) await send(v, true);
    await send('c2', false);
    for (const v of ['a4', 'a5']) await send(v, true);
    await send('c3', false);

    const consumer = createGroupConsumer({
      brokers: brokers(),
      clientId: `${prefix}-abc`,
      groupId: `${prefix}-abg`,
    });
    try {
      const stream = await consumer.consume([t]);
      // Asking for one more than was committed: the read times out with exactly the committed ones
      // (the aborted ones are not merely late).
      const seen: string[] = [];
      const err = await take(
        (async function* () {
          for await (const m of stream) {
            seen.push(m.value);
            yield m;
          }
        })(),
        4,
        5_000,
      ).then(
        () => null,
        (e: unknown) => e,
      );
      expect(String(err)).toMatch(/only 3\/4/);
      expect(seen).toEqual(['c1', 'c2', 'c3']);
    } finally {
      await consumer.close();
      await admin.deleteTopics([t, tooLarge]).catch(() => undefined);
    }
  });

  it('fences the older of two producers sharing a transactional id', async () => {
    const a = createDurableProducer({
      brokers: brokers(),
      clientId: `${prefix}-a`,
      transactionalId: `${prefix}-f`,
    });
    await a.send([{ topic, key: 'a', value: '1' }]);
    const b = createDurableProducer({
      brokers: brokers(),
      clientId: `${prefix}-b`,
      transactionalId: `${prefix}-f`,
    });
    await b.send([{ topic, key: 'b', value: '1' }]);
    const err = await a.send([{ topic, key: 'a', value: '2' }]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).not.toBeNull();
    expect(isFencedError(err)).toBe(true);
    await a.close().catch(() => undefined);
    await b.close();
  });

  it('asks the broker for a transaction timeout that a slow transaction on a loaded machine survives', async () => {
    // The client's default (5 s) made the broker abort long transactions and fence the producer.
    const id = `${prefix}-timeout`;
    const p = createDurableProducer({ brokers: brokers(), clientId: `${prefix}-t`, transactionalId: id });
    await p.send([{ topic, key: 't', value: '1' }]);
    // The test stack is one broker: it is the coordinator of every transactional id.
    const [host = '', port = ''] = (brokers()[0] ?? '').split(':');
    const conn = new Connection(`${prefix}-describe`);
    try {
      await new Promise<void>((resolve, reject) =>
        conn.connect(host, Number(port), (e) => (e ? reject(e) : resolve())),
      );
      const res = await describeTransactionsV0.api.async(conn, [id]);
      expect(res.transactionStates[0]?.transactionTimeoutMs).toBe(TRANSACTION_TIMEOUT_MS);
    } finally {
      await new Promise<void>((resolve) => conn.close(() => resolve()));
      await p.close();
    }
  });
});
