import { CACHED_TABLES } from '../../runtime/core/cache/rows.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import type { PipelineSpec } from '../api/v1alpha1/spec.ts';

/**
 * Names a pipeline's pods and the operator's duties must agree on. The pods get them explicitly
 * (operator/component-env.ts) and the duties derive them here, so neither relies on a service's
 * default. Both are derived from kafka.topicPrefix, which is immutable: renaming either would orphan
 * the producer's checkpoint or the consumer group's offsets.
 */

/** PRODUCER_NAME: the checkpoint key, source.name, pipeline lock and transactional id. */
export const producerName = (spec: PipelineSpec): string => spec.kafka.topicPrefix;

/** CONSUMER_GROUP: the Kafka consumer group whose lag the autoscaler reads. */
export const consumerGroup = (spec: PipelineSpec): string => `${spec.kafka.topicPrefix}.consumer`;

/** Change topics the consumer group reads: the captured tables that the cache is built from. */
export function consumedTopics(spec: PipelineSpec): string[] {
  const cached = new Set<string>(CACHED_TABLES);
  return spec.mysql.tables
    .filter((t) => cached.has(t))
    .map((t) => topicName(spec.kafka.topicPrefix, spec.mysql.database, t));
}
