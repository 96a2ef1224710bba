// The checkpoint read against the real broker when the checkpoint topic ends with aborted
// transactions (what a producer killed with a transaction open leaves once the broker aborted it):
// the producer's readCheckpoint and the operator's checkpoint store both return the last committed
// checkpoint, within seconds, for any number of aborted transactions after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSpec } from '../../operator/api/v1alpha1/spec.ts';
import { kafkaCheckpointStore } from '../../operator/duties/binlog/checkpoint-store.ts';
import {
  type Checkpoint,
  checkpointTopic,
  encodeCheckpoint,
  producerTransactionalId,
} from '../../runtime/core/checkpoint/format.ts';
import { readCheckpoint, writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createDurableProducer, createKafkaAdmin, type KafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { eventually } from '../support/wait.ts';

const brokers = () => requireEnv('KAFKA_BROKERS').split(',');

const checkpoint = (seq: number): Checkpoint => ({
  v: 1,
  gtid: `0-2-${seq}`,
  file: 'mariadb-bin.000001',
  pos: 1000 + seq,
  partial: null,
  source_ts_ms: 1_700_000_000_000 + seq,
  ts_ms: 1,
});

describe('checkpoint read past aborted transactions', () => {
  const prefix = `t_cr_${uniqueSuffix()}`;
  const where = { brokers: brokers(), topicPrefix: prefix, name: prefix };
  // Over the broker's message.max.bytes: a transaction carrying it is rejected and aborted, after its
  // checkpoint record was already appended to the checkpoint topic.
  const tooLarge = `${prefix}.too-large`;
  let admin: KafkaAdmin;

  /** A transaction of the pipeline's transactional id holding a checkpoint record, ending aborted. */
  async function abortedCheckpointTransaction(seq: number): Promise<void> {
    const producer = createDurableProducer({
      brokers: brokers(),
      clientId: `${prefix}-aborted`,
      transactionalId: producerTransactionalId(prefix),
    });
    try {
      const err = await producer
        .send([
          { topic: checkpointTopic(prefix), key: prefix, value: encodeCheckpoint(checkpoint(seq)) },
          { topic: tooLarge, key: 'k', value: 'x'.repeat(2_000_000) },
        ])
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).not.toBeNull();
    } finally {
      await producer.close();
    }
  }

  beforeAll(async () => {
    admin = createKafkaAdmin({ brokers: brokers(), clientId: `${prefix}-admin` });
    await admin.ensureTopics([{ name: tooLarge, partitions: 1, replicationFactor: 1 }]);
  });

  afterAll(async () => {
    await admin.deleteTopics([tooLarge, checkpointTopic(prefix)]).catch(() => undefined);
    await admin.close();
  });

  it('returns the last committed checkpoint after one and after several aborted transactions', async () => {
    await writeCheckpoint(where, checkpoint(10));
    // A new topic's end offset can read 0 for a moment after the first write: wait for the committed
    // record and its commit marker.
    const committedEnd = await eventually(
      'the committed checkpoint and its marker in the log',
      async () => (await admin.endOffsets([checkpointTopic(prefix)])).get(checkpointTopic(prefix)),
      (ends) => (ends?.[0] ?? 0n) >= 2n,
      10_000,
    );
    await abortedCheckpointTransaction(11);
    // The aborted record and its abort marker now sit after the committed one.
    // The transaction coordinator writes the abort marker after the abort returns: wait for it.
    const afterOne = await eventually(
      'the aborted record and its marker in the log',
      async () => (await admin.endOffsets([checkpointTopic(prefix)])).get(checkpointTopic(prefix)),
      (ends) => ends?.[0] === (committedEnd?.[0] ?? 0n) + 2n,
      10_000,
    ).catch(() => admin.endOffsets([checkpointTopic(prefix)]).then((m) => m.get(checkpointTopic(prefix))));
    expect(afterOne?.[0]).toBe((committedEnd?.[0] ?? 0n) + 2n);

    let t0 = Date.now();
    expect(await readCheckpoint(where, 10_000)).toEqual(checkpoint(10));
    expect(Date.now() - t0).toBeLessThan(8_000);

    for (let seq = 12; seq < 15; seq++) await abortedCheckpointTransaction(seq);
    t0 = Date.now();
    expect(await readCheckpoint(where, 10_000)).toEqual(checkpoint(10));
    expect(Date.now() - t0).toBeLessThan(8_000);

    // The operator's binlog-position guard reads through the same function.
    const spec = pipelineSpec.parse({
      image: 'payments:test',
      mysql: {
        host: '127.0.0.1',
        port: 3306,
        database: 'payments',
        credentialsSecret: 'mysql',
        serverId: 7,
        tables: ['packages'],
      },
      kafka: { bootstrap: brokers().join(','), topicPrefix: prefix, partitions: 1 },
      redis: { url: 'redis://127.0.0.1:6379/0', keyPrefix: prefix },
      producer: { startFrom: { kind: 'latest' }, snapshot: 'never' },
      consumer: { minReplicas: 1, maxReplicas: 1 },
      api: { authSecret: 'auth' },
    });
    expect(await kafkaCheckpointStore(spec).read()).toEqual({
      position: { gtid: '0-2-10', file: 'mariadb-bin.000001', pos: 1010 },
      sourceTsMs: 1_700_000_000_010,
    });

    // A checkpoint committed after the aborted ones is the one read; a tombstone means none.
    await writeCheckpoint(where, checkpoint(20));
    expect(await readCheckpoint(where, 10_000)).toEqual(checkpoint(20));
    await abortedCheckpointTransaction(21);
    await writeCheckpoint(where, null);
    await abortedCheckpointTransaction(22);
    expect(await readCheckpoint(where, 10_000)).toBeNull();
  }, 90_000);
});
