import { createDurableProducer, createKafkaAdmin, type KafkaSecurity, readToEnd } from '../kafka/index.ts';
import {
  type Checkpoint,
  checkpointTopic,
  checkpointTopicSpec,
  decodeCheckpoint,
  encodeCheckpoint,
  producerTransactionalId,
} from './format.ts';

/**
 * Reading and replacing a pipeline's checkpoint in its Kafka topic: the producer resumes from it,
 * the operator reports it and rewrites it for a startFrom change.
 */

export type CheckpointLocation = {
  brokers: string[];
  security?: KafkaSecurity | undefined;
  topicPrefix: string;
  name: string;
};

/**
 * The latest committed checkpoint of pipeline `name`, or null when it has none (a tombstone also
 * means none). Reads the checkpoint topic read_committed from the beginning until the consumer's
 * position reaches the end offset (`readToEnd`), so commit markers and aborted transactions after
 * the last checkpoint (a producer killed with a transaction open) do not keep it from finishing.
 * The operator reads checkpoints through this same function.
 */
export async function readCheckpoint(
  where: CheckpointLocation,
  timeoutMs = 30_000,
): Promise<Checkpoint | null> {
  let latest = null as string | null;
  await readToEnd(
    {
      brokers: where.brokers,
      security: where.security,
      clientId: `${where.name}.checkpoint-reader`,
      topic: checkpointTopic(where.topicPrefix),
      timeoutMs,
    },
    (m) => {
      if (m.key === where.name) latest = typeof m.value === 'string' ? m.value : null;
    },
  );
  return latest === null ? null : decodeCheckpoint(latest);
}

/**
 * Replaces the checkpoint of pipeline `name` (null deletes it). Uses the producer's transactional
 * id, so a producer still running for this pipeline is fenced and stops instead of overwriting it.
 */
export async function writeCheckpoint(
  where: CheckpointLocation & { replicationFactor?: number },
  checkpoint: Checkpoint | null,
): Promise<void> {
  const admin = createKafkaAdmin({
    brokers: where.brokers,
    clientId: `${where.name}.checkpoint-writer`,
    security: where.security,
  });
  try {
    await admin.ensureTopics([checkpointTopicSpec(where.topicPrefix, where.replicationFactor ?? 1)]);
  } finally {
    await admin.close();
  }
  const producer = createDurableProducer({
    brokers: where.brokers,
    security: where.security,
    clientId: `${where.name}.checkpoint-writer`,
    transactionalId: producerTransactionalId(where.name),
  });
  try {
    await producer.send([
      {
        topic: checkpointTopic(where.topicPrefix),
        key: where.name,
        value: checkpoint === null ? null : encodeCheckpoint(checkpoint),
      },
    ]);
  } finally {
    await producer.close();
  }
}
