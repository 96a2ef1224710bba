import type { KafkaSecurity } from './security.ts';

/** Connection settings shared by admin, producer and consumer. */
export type KafkaConnection = {
  brokers: string[];
  clientId: string;
  /** TLS and SASL (security.ts); unset = plaintext. */
  security?: KafkaSecurity | undefined;
};

/** One record to publish; a null value is a tombstone (compaction deletes the key). Strings go as UTF-8. */
export type OutgoingRecord = {
  topic: string;
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string>;
};

export type TopicSpec = {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Topic-level configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
};

/** Offsets per topic, indexed by partition. */
export type PartitionOffsets = Map<string, bigint[]>;

export type PartitionLag = {
  topic: string;
  partition: number;
  /** Log end offset (next offset to be written; read_committed: last stable offset). */
  end: bigint;
  /** Committed group offset; -1n when the group has none for the partition. */
  committed: bigint;
  lag: bigint;
};
