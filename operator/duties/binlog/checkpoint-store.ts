import { readCheckpoint, writeCheckpoint } from '../../../runtime/core/checkpoint/store.ts';
import type { KafkaSecurity } from '../../../runtime/core/kafka/index.ts';
import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import { producerName } from '../../controller/naming.ts';
import type { Checkpoint, CheckpointStore } from './checkpoint.ts';

/**
 * The producer's own checkpoint store (the compacted `<topicPrefix>.__checkpoints` topic, keyed by
 * the producer name, which defaults to the topic prefix) seen through the operator's interface.
 * A write uses the producer's transactional id, so a producer that is somehow still running gets
 * fenced instead of overwriting the rewritten position.
 */
export function kafkaCheckpointStore(
  spec: PipelineSpec,
  now: () => number = Date.now,
  security?: KafkaSecurity,
): CheckpointStore {
  const where = {
    brokers: spec.kafka.bootstrap,
    security,
    topicPrefix: spec.kafka.topicPrefix,
    name: producerName(spec),
    replicationFactor: spec.kafka.replicationFactor,
  };
  return {
    async read(): Promise<Checkpoint | null> {
      const cp = await readCheckpoint(where, 10_000);
      if (!cp) return null;
      return {
        position: { gtid: cp.gtid, file: cp.file, pos: cp.pos },
        ...(cp.source_ts_ms > 0 ? { sourceTsMs: cp.source_ts_ms } : {}),
      };
    },
    async write(position) {
      if (position.file === undefined)
        throw new Error('a checkpoint needs a binlog file (even when resuming by GTID)');
      await writeCheckpoint(where, {
        v: 1,
        gtid: position.gtid || null,
        file: position.file,
        pos: position.pos ?? 4,
        partial: null,
        source_ts_ms: 0,
        ts_ms: now(),
      });
    },
    clear: () => writeCheckpoint(where, null),
  };
}
