import { Admin, ConfigResourceTypes, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import { kafkaErrorIs } from './errors.ts';
import { kafkaClientOptions } from './security.ts';
import type { KafkaConnection, PartitionLag, PartitionOffsets, TopicSpec } from './types.ts';

/** The admin operations the services and the operator need, independent of the client library. */
export type KafkaAdmin = {
  /** Creates missing topics with their partition count and configs; existing topics are left as they are. */
  ensureTopics: (specs: TopicSpec[]) => Promise<void>;
  listTopics: () => Promise<string[]>;
  /** Partition count per existing topic (missing topics are absent from the map). */
  partitionCounts: (topics: string[]) => Promise<Map<string, number>>;
  deleteTopics: (topics: string[]) => Promise<void>;
  /** Read-committed end offsets (last stable offset) of every partition. */
  endOffsets: (topics: string[]) => Promise<PartitionOffsets>;
  /**
   * Log end offsets including records of transactions still open (high watermark): above
   * `endOffsets` exactly while a transaction is open in that partition.
   */
  highWatermarks: (topics: string[]) => Promise<PartitionOffsets>;
  /** Committed offsets of a consumer group; -1n where it has none. */
  committedOffsets: (groupId: string, topics: string[]) => Promise<PartitionOffsets>;
  /**
   * Consumer-group lag per partition (end - committed; the whole partition when nothing is committed).
   * Topics written by a transactional producer end with a commit marker; a group that commits only
   * `last offset + 1` shows a lag of 1 there when caught up, which is why the consumer commits its
   * fetch position past the markers (`MessageStream.offsetAfter`) and reads 0 here.
   */
  consumerLag: (groupId: string, topics: string[]) => Promise<PartitionLag[]>;
  /**
   * The largest record batch the brokers accept: the smallest `message.max.bytes` of the cluster's
   * brokers, and each existing topic's effective `max.message.bytes` (its override, or the broker's).
   * Missing topics are absent from the map (a topic created without an override gets the broker's).
   */
  messageLimits: (topics: string[]) => Promise<MessageLimits>;
  close: () => Promise<void>;
};

export type MessageLimits = { broker: number; topics: Map<string, number> };

export function createKafkaAdmin(conn: KafkaConnection): KafkaAdmin {
  const admin = new Admin({
    clientId: conn.clientId,
    bootstrapBrokers: conn.brokers,
    ...kafkaClientOptions(conn.security),
    retries: 5,
    retryDelay: 200,
  });

  async function partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (topics.length === 0) return counts;
    const existing = new Set(await admin.listTopics());
    const wanted = topics.filter((t) => existing.has(t));
    if (wanted.length === 0) return counts;
    const metadata = await admin.metadata({ topics: wanted });
    for (const [name, topic] of metadata.topics) counts.set(name, topic.partitionsCount);
    return counts;
  }

  async function endOffsets(topics: string[], committed = true): Promise<PartitionOffsets> {
    const counts = await partitionCounts(topics);
    const result: PartitionOffsets = new Map();
    if (counts.size === 0) return result;
    const listed = await admin.listOffsets({
      isolationLevel: committed ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED,
      topics: [...counts].map(([name, n]) => ({
        name,
        partitions: Array.from({ length: n }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp: ListOffsetTimestamps.LATEST,
        })),
      })),
    });
    for (const t of listed) {
      const offsets: bigint[] = [];
      for (const p of t.partitions) offsets[p.partitionIndex] = p.offset;
      result.set(t.name, offsets);
    }
    return result;
  }

  async function committedOffsets(groupId: string, topics: string[]): Promise<PartitionOffsets> {
    const counts = await partitionCounts(topics);
    const result: PartitionOffsets = new Map();
    for (const [name, n] of counts)
      result.set(
        name,
        Array.from({ length: n }, () => -1n),
      );
    if (counts.size === 0) return result;
    const groups = await admin.listConsumerGroupOffsets({
      groups: [{ groupId, topics: [...counts].map(([name, n]) => ({ name, partitionIndexes: range(n) })) }],
    });
    for (const g of groups) {
      for (const t of g.topics) {
        const offsets = result.get(t.name);
        if (!offsets) continue;
        for (const p of t.partitions) offsets[p.partitionIndex] = p.committedOffset;
      }
    }
    return result;
  }

  async function messageLimits(topics: string[]): Promise<MessageLimits> {
    const brokerIds = [...(await admin.metadata({ topics: [] })).brokers.keys()];
    const existing = new Set(await admin.listTopics());
    const wanted = [...new Set(topics)].filter((t) => existing.has(t));
    const described = await admin.describeConfigs({
      resources: [
        ...brokerIds.map((id) => ({
          resourceType: ConfigResourceTypes.BROKER,
          resourceName: String(id),
          configurationKeys: ['message.max.bytes'],
        })),
        ...wanted.map((name) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: name,
          configurationKeys: ['max.message.bytes'],
        })),
      ],
    });
    let broker = Number.POSITIVE_INFINITY;
    const perTopic = new Map<string, number>();
    for (const d of described) {
      const value = Number(
        d.configs.find((c) => c.name === 'message.max.bytes' || c.name === 'max.message.bytes')?.value,
      );
      if (!Number.isFinite(value) || value <= 0) continue;
      if (d.resourceType === ConfigResourceTypes.BROKER) broker = Math.min(broker, value);
      else perTopic.set(d.resourceName, value);
    }
    if (!Number.isFinite(broker)) throw new Error('the brokers did not report message.max.bytes');
    return { broker, topics: perTopic };
  }

  return {
    messageLimits,
    async ensureTopics(specs) {
      const existing = new Set(await admin.listTopics());
      for (const spec of specs) {
        if (existing.has(spec.name)) continue;
        try {
          await admin.createTopics({
            topics: [spec.name],
            partitions: spec.partitions,
            replicas: spec.replicationFactor,
            configs: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
          });
        } catch (err) {
          // Another instance (or a concurrent call) created it between list and create.
          if (!kafkaErrorIs(err, 'TOPIC_ALREADY_EXISTS')) throw err;
        }
      }
    },
    listTopics: () => admin.listTopics(),
    partitionCounts,
    async deleteTopics(topics) {
      if (topics.length > 0) await admin.deleteTopics({ topics });
    },
    endOffsets: (topics) => endOffsets(topics),
    highWatermarks: (topics) => endOffsets(topics, false),
    committedOffsets,
    async consumerLag(groupId, topics) {
      const [ends, committed] = await Promise.all([endOffsets(topics), committedOffsets(groupId, topics)]);
      const lags: PartitionLag[] = [];
      for (const [topic, offsets] of ends) {
        offsets.forEach((end, partition) => {
          const c = committed.get(topic)?.[partition] ?? -1n;
          const lag = c < 0n ? end : end > c ? end - c : 0n;
          lags.push({ topic, partition, end, committed: c, lag });
        });
      }
      return lags;
    },
    close: () => admin.close(),
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
