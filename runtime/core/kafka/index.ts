// The one place that knows which Kafka client library the project uses (@platformatic/kafka;
// see docs/producer.md for the benchmark and the reasons). Import from here, not from the library.
export { createKafkaAdmin, type KafkaAdmin, type MessageLimits } from './admin.ts';
export { createCommitter, type PartitionOffset } from './committer.ts';
export {
  type ConsumedMessage,
  createGroupConsumer,
  type GroupConsumer,
  type GroupConsumerOptions,
  type MessageStream,
} from './consumer.ts';
export {
  accessErrorMessage,
  accessRefusal,
  isAccessError,
  isFencedError,
  isTooLargeError,
  kafkaErrorIs,
} from './errors.ts';
export { createDurableProducer, type DurableProducer, type DurableProducerOptions } from './producer.ts';
export { type ReadToEndOptions, readToEnd } from './read-to-end.ts';
export { type KafkaSecurity, kafkaClientOptions } from './security.ts';
export type { KafkaConnection, OutgoingRecord, PartitionLag, PartitionOffsets, TopicSpec } from './types.ts';
