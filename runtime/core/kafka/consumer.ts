import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamModes,
  stringDeserializers,
} from '@platformatic/kafka';
import type { KafkaConnection } from './types.ts';

export type ConsumedMessage = Message<string, string, string, string>;

export type GroupConsumerOptions = KafkaConnection & {
  groupId: string;
  /** Where a group without committed offsets starts (default earliest). */
  startWhenNoOffsets?: 'earliest' | 'latest';
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
};

export type GroupConsumer = {
  /**
   * Async iterable of messages of the topics, read_committed (aborted transactions are never seen),
   * no auto-commit: call `message.commit()` after the effect of a message is durable.
   */
  consume: (topics: string[]) => Promise<AsyncIterable<ConsumedMessage>>;
  close: () => Promise<void>;
};

/** A consumer-group member with manual offset commits. A null `value` is a tombstone. */
export function createGroupConsumer(opts: GroupConsumerOptions): GroupConsumer {
  const consumer = new Consumer<string, string, string, string>({
    clientId: opts.clientId,
    bootstrapBrokers: opts.brokers,
    groupId: opts.groupId,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: opts.maxWaitTimeMs ?? 500,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    ...(opts.sessionTimeoutMs ? { sessionTimeout: opts.sessionTimeoutMs } : {}),
  });
  return {
    async consume(topics) {
      return consumer.consume({
        topics,
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: opts.startWhenNoOffsets ?? 'earliest',
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
    },
    close: () => consumer.close(true),
  };
}
