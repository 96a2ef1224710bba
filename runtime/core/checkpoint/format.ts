import { z } from 'zod';
import type { TopicSpec } from '../kafka/index.ts';

/**
 * The producer's durable position, stored as the latest record for key `<name>` in the compacted
 * topic `<prefix>.__checkpoints` and written in the same Kafka transaction as the events it covers.
 *
 * - `gtid`: every transaction up to here is fully in Kafka (MariaDB GTID position "0-2-80[,...]" or a
 *   MySQL GTID set); null only before the first transaction when started from a file/position.
 * - `file`/`pos`: binlog coordinates right after that last complete transaction.
 * - `partial`: the transaction after `gtid` was cut across Kafka transactions (large transaction) and
 *   its first `rows` row changes are already published; a resume skips exactly those.
 */
export const checkpointSchema = z.object({
  v: z.literal(1),
  gtid: z.string().min(1).nullable(),
  file: z.string().min(1),
  pos: z.number().int().min(4),
  partial: z.object({ gtid: z.string().min(1), rows: z.number().int().min(1) }).nullable(),
  /** Binlog timestamp (ms) of the last transaction covered; 0 when unknown. */
  source_ts_ms: z.number().int().min(0),
  /** When this checkpoint was written. */
  ts_ms: z.number().int().min(0),
  /**
   * Present while an initial snapshot is in progress (gtid/file/pos above are where streaming starts
   * once it completes): the tables already done and the last primary key of the current table.
   */
  snapshot: z
    .object({
      done: z.array(z.string()),
      table: z.string().nullable(),
      after: z.array(z.unknown()).nullable(),
    })
    .nullable()
    .optional(),
});

export type Checkpoint = z.infer<typeof checkpointSchema>;

export function checkpointTopic(topicPrefix: string): string {
  return `${topicPrefix}.__checkpoints`;
}

/** Transactional id shared by the running producer and writeCheckpoint (which therefore fences it). */
export function producerTransactionalId(name: string): string {
  return `${name}.producer`;
}

export function checkpointTopicSpec(topicPrefix: string, replicationFactor: number): TopicSpec {
  return {
    name: checkpointTopic(topicPrefix),
    partitions: 1,
    replicationFactor,
    configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
  };
}

export function encodeCheckpoint(c: Checkpoint): string {
  return JSON.stringify(checkpointSchema.parse(c));
}

/** Throws with the reason when the stored record is not a checkpoint of this format. */
export function decodeCheckpoint(raw: string): Checkpoint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`checkpoint record is not JSON: ${raw.slice(0, 200)}`);
  }
  const result = checkpointSchema.safeParse(parsed);
  if (!result.success) {
    throw new Error(
      `checkpoint record has an unknown shape: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}
