import { withTimeout } from '../timeout.ts';
import { createKafkaAdmin } from './admin.ts';
import { type ConsumedMessage, createGroupConsumer } from './consumer.ts';
import type { KafkaConnection } from './types.ts';

export type ReadToEndOptions = KafkaConnection & {
  topic: string;
  /** Rejects when the end is not reached within this time. */
  timeoutMs: number;
};

/**
 * Hands every committed record of `topic` (read_committed, from the beginning) to `onMessage`, and
 * resolves once the consumer's fetch position has reached, in every partition, the read-committed
 * end offset (last stable offset) the topic had when the call started.
 *
 * It stops on the position, never on the offset of the last message: commit and abort markers are
 * control records that are never handed out, and an aborted transaction's records are dropped, so
 * after any number of those the last message read sits an unknown distance before the end. (Stopping
 * when a message's offset came within a marker of the end never finished once the log ended with an
 * aborted transaction.)
 */
export async function readToEnd(
  opts: ReadToEndOptions,
  onMessage: (m: ConsumedMessage) => void,
): Promise<void> {
  const { topic, timeoutMs } = opts;
  const admin = createKafkaAdmin({ brokers: opts.brokers, clientId: opts.clientId, security: opts.security });
  let ends: Awaited<ReturnType<typeof admin.endOffsets>>;
  try {
    ends = await admin.endOffsets([topic]);
  } finally {
    await admin.close();
  }
  if ((ends.get(topic) ?? []).every((end) => end <= 0n)) return;
  // An ephemeral group that never commits: it only exists for the fetch session.
  const consumer = createGroupConsumer({
    brokers: opts.brokers,
    clientId: opts.clientId,
    security: opts.security,
    groupId: `${opts.clientId}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
    startWhenNoOffsets: 'earliest',
    maxWaitTimeMs: 200,
  });
  let unsubscribe: () => void = () => undefined;
  try {
    const stream = await consumer.consume([topic]);
    const read = new Promise<void>((resolve, reject) => {
      let done = false;
      const check = () => {
        if (!done && stream.reached(ends)) {
          done = true;
          resolve();
        }
      };
      // A fetch that returned only markers or aborted records moves the position with no message.
      unsubscribe = stream.onFetched(check);
      (async () => {
        for await (const m of stream) {
          if (done) return;
          onMessage(m);
          check();
          if (done) return;
        }
      })().then(() => {
        if (!done) reject(new Error(`the stream of ${topic} ended before reaching its end offsets`));
      }, reject);
      check();
    });
    await withTimeout(
      read,
      timeoutMs,
      () =>
        new Error(
          `reading ${topic} did not reach its end offsets ${JSON.stringify((ends.get(topic) ?? []).map(String))} within ${timeoutMs} ms`,
        ),
    );
  } finally {
    unsubscribe();
    await consumer.close().catch(() => undefined);
  }
}
