import type { KafkaAdmin } from '../../../runtime/core/kafka/admin.ts';
import type { PartitionLag } from '../../../runtime/core/kafka/types.ts';
import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import type { LagObservation } from './types.ts';

export type GroupLag = { observation: LagObservation; partitions: PartitionLag[] };

/**
 * Lag of a consumer group over its topics, read from the broker (read-committed end offsets minus
 * the group's committed offsets). A group that has committed nothing anywhere is reported as such
 * rather than as "the whole topic": its consumers may start at latest, and scaling on a number the
 * group will never consume would be wrong.
 */
export async function readGroupLag(
  admin: Pick<KafkaAdmin, 'consumerLag'>,
  groupId: string,
  topics: string[],
): Promise<GroupLag> {
  let partitions: PartitionLag[];
  try {
    partitions = await admin.consumerLag(groupId, topics);
  } catch (err) {
    return {
      observation: { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) },
      partitions: [],
    };
  }
  return { observation: summarize(topics, partitions), partitions };
}

/** Folds per-partition lag into the autoscaler's observation. */
export function summarize(topics: string[], partitions: PartitionLag[]): LagObservation {
  const present = new Set(partitions.map((p) => p.topic));
  if (present.size === 0) return { kind: 'topics-missing', topics };
  const perTopic = new Map<string, number>();
  for (const p of partitions) perTopic.set(p.topic, (perTopic.get(p.topic) ?? 0) + 1);
  const widest = Math.max(...perTopic.values());
  const uncommitted = partitions.filter((p) => p.committed < 0n).length;
  if (uncommitted === partitions.length) return { kind: 'no-committed-offsets', partitions: widest };
  const total = partitions.reduce((sum, p) => sum + p.lag, 0n);
  return { kind: 'lag', total, partitions: widest, uncommittedPartitions: uncommitted };
}

/** Lag per topic, for the per-topic gauge. */
export function lagByTopic(partitions: PartitionLag[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const p of partitions) out.set(p.topic, (out.get(p.topic) ?? 0n) + p.lag);
  return out;
}

/**
 * Lag per pipeline spec, with one admin client per bootstrap list (pipelines on the same cluster
 * share it). `close` ends every client; call it on shutdown.
 */
export function createLagSource(
  open: (brokers: string[]) => Pick<KafkaAdmin, 'consumerLag' | 'close'>,
  groupOf: (spec: PipelineSpec) => { groupId: string; topics: string[] },
) {
  const admins = new Map<string, Pick<KafkaAdmin, 'consumerLag' | 'close'>>();
  return {
    lagOf(spec: PipelineSpec): Promise<GroupLag> {
      const brokers = spec.kafka.bootstrap;
      const k = brokers.join(',');
      let admin = admins.get(k);
      if (!admin) {
        admin = open(brokers);
        admins.set(k, admin);
      }
      const { groupId, topics } = groupOf(spec);
      return readGroupLag(admin, groupId, topics);
    },
    async close() {
      const all = [...admins.values()];
      admins.clear();
      await Promise.allSettled(all.map((a) => a.close()));
    },
  };
}
