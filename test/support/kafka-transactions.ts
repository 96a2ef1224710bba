import {
  Admin,
  FetchIsolationLevels,
  type FetchIsolationLevelValue,
  ListOffsetTimestamps,
} from '@platformatic/kafka';

/**
 * Sees open Kafka transactions from the outside: a partition whose last stable offset (what
 * read_committed consumers may read up to) is below its high watermark holds records of a transaction
 * that is neither committed nor aborted yet. When the broker aborts it (transaction timeout) or a
 * commit completes, the marker brings the last stable offset up to the high watermark.
 */
export function transactionProbe(brokers: string[], topicPrefix: string) {
  const admin = new Admin({ clientId: `${topicPrefix}-txn-probe`, bootstrapBrokers: brokers, retries: 2 });

  const latest = async (topics: Map<string, number>, isolationLevel: FetchIsolationLevelValue) => {
    const listed = await admin.listOffsets({
      isolationLevel,
      topics: [...topics].map(([name, n]) => ({
        name,
        partitions: Array.from({ length: n }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp: ListOffsetTimestamps.LATEST,
        })),
      })),
    });
    const out = new Map<string, bigint>();
    for (const t of listed) for (const p of t.partitions) out.set(`${t.name}/${p.partitionIndex}`, p.offset);
    return out;
  };

  let topics: Map<string, number> | undefined;
  return {
    /** `topic/partition` of every partition of the prefix's topics with an open transaction. */
    async openPartitions(): Promise<string[]> {
      if (!topics) {
        const names = (await admin.listTopics()).filter((t) => t.startsWith(`${topicPrefix}.`));
        const metadata = await admin.metadata({ topics: names });
        topics = new Map([...metadata.topics].map(([name, t]) => [name, t.partitionsCount]));
      }
      const [stable, high] = await Promise.all([
        latest(topics, FetchIsolationLevels.READ_COMMITTED),
        latest(topics, FetchIsolationLevels.READ_UNCOMMITTED),
      ]);
      return [...high].filter(([tp, hw]) => (stable.get(tp) ?? hw) < hw).map(([tp]) => tp);
    },
    close: () => admin.close(),
  };
}
