import type { Readable } from 'node:stream';
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamModes,
  stringDeserializers,
} from '@platformatic/kafka';
import { dropAbortedBatches, type FetchedPartition } from './aborted.ts';
import { createCommitter, type PartitionOffset } from './committer.ts';
import { kafkaClientOptions } from './security.ts';
import type { KafkaConnection, PartitionOffsets } from './types.ts';

export type ConsumedMessage = Message<string, string, string, string>;

export type GroupConsumerOptions = KafkaConnection & {
  groupId: string;
  /** Where a group without committed offsets starts (default earliest). */
  startWhenNoOffsets?: 'earliest' | 'latest';
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
};

/**
 * Messages of the subscribed topics, read_committed (aborted transactions are never seen), no
 * auto-commit: commit after the effect of a message is durable, either with `message.commit()` (its
 * offset + 1) or with `commit(...)` and `offsetAfter(...)`.
 */
export type MessageStream = AsyncIterable<ConsumedMessage> & {
  /**
   * The same messages in chunks: each chunk is everything the client has fetched and not yet handed
   * out (at most `max`), read in one synchronous step, so a consumer can size its batches by the
   * backlog instead of taking messages one await at a time. Use either this or the message iterator.
   */
  chunks: (max: number) => AsyncIterable<ConsumedMessage[]>;
  /**
   * The offset to commit once `last` and everything read before it in its partition are applied.
   * Normally `last.offset + 1`. A transaction's data records are followed by its commit marker, a
   * control record the client never hands out; once the client has fetched past such records, `last`
   * is the most recent message of its partition and no fetched message waits unread, nothing but
   * control records lies between `last` and the fetch position, and the position is returned: a
   * caught-up group then commits the log end offset (lag 0) instead of the marker's offset (lag 1).
   */
  offsetAfter: (last: ConsumedMessage) => bigint;
  /**
   * Partitions fetched past their committed offset without a single message read from them: only
   * control records lie in between (e.g. a restart whose committed offset pointed at a commit
   * marker), so their fetch position can be committed as is.
   */
  untouchedPositions: () => PartitionOffset[];
  /** Stores group offsets; one request at a time, later offsets merged (see createCommitter). */
  commit: (offsets: PartitionOffset[]) => Promise<void>;
  /**
   * Calls `listener` after every fetch response was taken in, including one holding only control
   * records: that moves the fetch position with no message to commit. Returns the unsubscribe.
   */
  onFetched: (listener: () => void) => () => void;
  /**
   * True once every partition of `ends` (offsets per topic, indexed by partition) has its fetch
   * position at or past its end offset and no fetched message waits unread. The position, not the
   * offset of the last message: commit/abort markers and aborted batches hold offsets no message is
   * handed out for, so past an aborted transaction the last message sits well before the end.
   */
  reached: (ends: PartitionOffsets) => boolean;
};

export type GroupConsumer = {
  consume: (topics: string[]) => Promise<MessageStream>;
  close: () => Promise<void>;
};

/** A consumer-group member with manual offset commits. A null `value` is a tombstone. */
export function createGroupConsumer(opts: GroupConsumerOptions): GroupConsumer {
  const consumer = new Consumer<string, string, string, string>({
    clientId: opts.clientId,
    bootstrapBrokers: opts.brokers,
    ...kafkaClientOptions(opts.security),
    groupId: opts.groupId,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: opts.maxWaitTimeMs ?? 500,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    ...(opts.sessionTimeoutMs ? { sessionTimeout: opts.sessionTimeoutMs } : {}),
  });
  filterAbortedTransactions(consumer);
  const commit = createCommitter((offsets) => consumer.commit({ offsets }));
  return {
    async consume(topics) {
      const stream = await consumer.consume({
        topics,
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: opts.startWhenNoOffsets ?? 'earliest',
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      // The most recent message read per partition, set in the same synchronous step as the read, so
      // `offsetAfter` never misses a message that left the client's buffer but was not handed out.
      const lastRead = new Map<string, ConsumedMessage>();
      return {
        [Symbol.asyncIterator]: () => readMessages(stream, (m) => lastRead.set(positionKey(m), m)),
        chunks: (max) => ({
          [Symbol.asyncIterator]: () => readChunks(stream, (m) => lastRead.set(positionKey(m), m), max),
        }),
        offsetAfter(last) {
          const next = last.offset + 1n;
          const key = positionKey(last);
          // The library sets a partition's position to the end of the last batch of a fetch response
          // (a control batch included) and pushes that response's messages in the same tick, so with
          // its buffer empty and `last` read last, no data record lies in [next, position).
          if (lastRead.get(key) !== last || stream.readableLength > 0) return next;
          const position = stream.offsetsToFetch.get(key);
          return position !== undefined && position > next ? position : next;
        },
        untouchedPositions() {
          const out: PartitionOffset[] = [];
          if (stream.readableLength > 0) return out;
          // offsetsCommitted: the group's offsets as the client knows them (set on assignment, raised
          // by our commits), so a committed position is not offered again.
          for (const [key, committed] of stream.offsetsCommitted) {
            const position = stream.offsetsToFetch.get(key);
            if (lastRead.has(key) || committed === undefined || committed < 0n) continue;
            if (position === undefined || position <= committed) continue;
            const at = key.lastIndexOf(':');
            const [topic, partition] = [key.slice(0, at), Number(key.slice(at + 1))];
            out.push({ topic, partition, offset: position, leaderEpoch: -1 });
          }
          return out;
        },
        commit,
        onFetched(listener) {
          // 'fetch' is emitted before the response's records are pushed; run after that.
          const onFetch = () => setImmediate(listener);
          stream.on('fetch', onFetch);
          return () => stream.off('fetch', onFetch);
        },
        reached(ends) {
          if (stream.readableLength > 0) return false;
          for (const [topic, offsets] of ends) {
            for (const [partition, end] of offsets.entries()) {
              if (end === undefined || end <= 0n) continue;
              const position = stream.offsetsToFetch.get(positionKey({ topic, partition }));
              if (position === undefined || position < end) return false;
            }
          }
          return true;
        },
      };
    },
    close: () => consumer.close(true),
  };
}

type FetchResponseLike = { responses: { partitions: FetchedPartition[] }[] };

/**
 * Runs `dropAbortedBatches` on every fetch response the consumer's message streams receive (they call
 * the instance's `fetch` with a callback), after the library's own read_committed filter, which misses
 * aborted transactions (see aborted.ts).
 */
function filterAbortedTransactions(consumer: Consumer<string, string, string, string>): void {
  const fetch = consumer.fetch.bind(consumer) as (
    options: unknown,
    callback?: (err: Error | null, res: FetchResponseLike) => void,
  ) => Promise<FetchResponseLike> | undefined;
  const filter = (res: FetchResponseLike | undefined) => {
    for (const topic of res?.responses ?? []) for (const p of topic.partitions) dropAbortedBatches(p);
  };
  const patched = (options: unknown, callback?: (err: Error | null, res: FetchResponseLike) => void) => {
    if (!callback)
      return fetch(options)?.then((res) => {
        filter(res);
        return res;
      });
    return fetch(options, (err, res) => {
      if (!err) filter(res);
      callback(err, res);
    });
  };
  consumer.fetch = patched as unknown as typeof consumer.fetch;
}

/** The library's key of `offsetsToFetch` (its `partitionKey`, not exported). */
const positionKey = (m: { topic: string; partition: number }) => `${m.topic}:${m.partition}`;

/**
 * Node's Readable async iterator (including destroying the stream when the caller stops early), plus a
 * callback in the same tick as each `read()`.
 */
async function* readMessages(
  stream: Readable,
  onRead: (m: ConsumedMessage) => void,
): AsyncGenerator<ConsumedMessage> {
  for await (const chunk of readChunks(stream, onRead, 1)) yield* chunk;
}

/** As readMessages, but each step takes everything buffered (up to `max` messages) at once. */
async function* readChunks(
  stream: Readable,
  onRead: (m: ConsumedMessage) => void,
  max: number,
): AsyncGenerator<ConsumedMessage[]> {
  let wake: (() => void) | undefined;
  let failure: unknown;
  let ended = false;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const onError = (err: unknown) => {
    failure = err;
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  stream.on('readable', notify);
  stream.on('error', onError);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  try {
    for (;;) {
      const chunk: ConsumedMessage[] = [];
      while (chunk.length < max && !stream.destroyed) {
        const m: ConsumedMessage | null = stream.read();
        if (m === null) break;
        onRead(m);
        chunk.push(m);
      }
      if (chunk.length > 0) {
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended || stream.destroyed) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.off('readable', notify);
    stream.off('error', onError);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    if (!ended && failure === undefined) stream.destroy();
  }
}
