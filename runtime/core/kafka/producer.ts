import { compatibilityPartitioner, ProduceAcks, Producer, serializersFrom } from '@platformatic/kafka';
import { kafkaErrorIs } from './errors.ts';
import { fastProduceApi } from './produce-request.ts';
import { kafkaClientOptions } from './security.ts';
import type { KafkaConnection, OutgoingRecord } from './types.ts';

export type DurableProducerOptions = KafkaConnection & {
  /**
   * With a transactional id every `send` is one Kafka transaction (all records or none become
   * visible to read_committed consumers), and a newer producer with the same id fences this one.
   */
  transactionalId?: string;
};

/** acks=all, idempotent producer; records with equal keys land on the same partition (Java-compatible murmur2). */
export type DurableProducer = {
  readonly transactional: boolean;
  /**
   * Transactional producers: initialises the transactional id now instead of at the first send. That
   * fences a previous holder and returns only once the coordinator has finished (aborted or committed)
   * every transaction that holder left, so the topics' read_committed end offsets are settled: a
   * checkpoint read after it sees the last commit and no transaction still open. Nothing to do for
   * the others.
   */
  init: (timeoutMs?: number) => Promise<void>;
  /** Resolves once the broker acknowledged every record (and, if transactional, the commit). */
  send: (records: OutgoingRecord[]) => Promise<void>;
  /**
   * Like send, with each of `requests` its own produce request, in order: a transaction can carry
   * more than the broker takes in one request (a partition's batch is limited by max.message.bytes),
   * so its fixed round trips (AddPartitions, EndTxn, the coordinator's markers) are paid less often.
   */
  sendRequests: (requests: OutgoingRecord[][]) => Promise<void>;
  close: () => Promise<void>;
};

// null/undefined become a null key/value on the wire (a null value is a tombstone); a Buffer is sent as it is.
const utf8OrNull = (data?: string | Buffer | null): Buffer | undefined =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : (data ?? undefined);

/**
 * The transaction timeout a transactional producer asks the broker for. Three times the client's
 * default (5 s), which a transaction slowed by a loaded machine overran: the broker aborted it and
 * fenced the producer. Not the Java client's 60 s: a producer killed with a transaction open and not
 * restarted holds read_committed readers back until the broker aborts it (this plus its 10 s sweep).
 */
export const TRANSACTION_TIMEOUT_MS = 15_000;

export function createDurableProducer(opts: DurableProducerOptions): DurableProducer {
  const producer = new Producer<string | Buffer | null, string | Buffer | null, string, string>({
    clientId: opts.clientId,
    bootstrapBrokers: opts.brokers,
    ...kafkaClientOptions(opts.security),
    serializers: serializersFrom(utf8OrNull),
    idempotent: true,
    acks: ProduceAcks.ALL,
    // Same partition for a key as the Java client and Debezium: (murmur2(key) & 0x7fffffff) % n.
    partitioner: compatibilityPartitioner,
    // The client's default 1 s retry delay dominates transactions: the coordinator answers
    // CONCURRENT_TRANSACTIONS until the previous commit's markers are written (see docs/producer.md).
    retries: 20,
    retryDelay: 25,
    ...(opts.transactionalId
      ? {
          transactionalId: opts.transactionalId,
          // InitProducerId with -1/-1 means "new producer for this id": the broker bumps the epoch and
          // fences the previous holder. The client's default (0/0) is answered PRODUCER_FENCED as soon
          // as the id already has a producer, so a restarted instance could never take over.
          producerId: -1n,
          producerEpoch: -1,
          // The client sends its `timeout` as the transaction timeout in InitProducerId (and as the
          // broker's wait for acks=all in Produce); the broker caps it at transaction.max.timeout.ms.
          timeout: TRANSACTION_TIMEOUT_MS,
        }
      : {}),
  });
  const transactional = opts.transactionalId !== undefined;
  useClientApiVersions(producer);
  useFastProduceEncoding(producer);

  // The client reads topic, key, value and headers of each message and builds its own copies.
  const toMessages = (records: OutgoingRecord[]) => records;

  const sendRequests = async (requests: OutgoingRecord[][]): Promise<void> => {
    const nonEmpty = requests.filter((r) => r.length > 0);
    if (nonEmpty.length === 0) return;
    if (!transactional) {
      for (const records of nonEmpty) await producer.send({ messages: toMessages(records) });
      return;
    }
    const tx = await producer.beginTransaction();
    try {
      for (const records of nonEmpty) await tx.send({ messages: toMessages(records) });
      await tx.commit();
    } catch (err) {
      if (!tx.completed) await tx.abort().catch(() => undefined);
      throw err;
    }
  };

  return {
    transactional,
    async init(timeoutMs = 60_000) {
      if (!transactional) return;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          // Beginning a transaction runs InitProducerId; cancelling it ends it locally (nothing was
          // sent in it), keeping the initialised id for the next transaction.
          const tx = await producer.beginTransaction();
          await tx.cancel();
          return;
        } catch (err) {
          // The coordinator is still writing the previous holder's markers (answered until done).
          if (!kafkaErrorIs(err, 'CONCURRENT_TRANSACTIONS') || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    send: (records) => sendRequests([records]),
    sendRequests,
    close: () => producer.close(),
  };
}

/**
 * AddPartitionsToTxn v4 and later are the brokers' own (batched, verify-only) version: the broker
 * authorizes them as CLUSTER_ACTION, which no client user should hold. The library picks the newest
 * version the broker lists, so a transactional producer is refused (CLUSTER_AUTHORIZATION_FAILED) as
 * soon as the cluster enforces ACLs. Clients use v3 and below, as the Java client does. The library
 * keeps the versions it negotiated in an instance field; this caps that one API as it is stored.
 */
function useClientApiVersions(producer: object): void {
  const field = Object.getOwnPropertySymbols(producer).find((s) => s.description === 'plt.kafka.base.apis');
  if (!field) throw new Error('the Kafka client library changed: its API version list was not found');
  type Api = { name: string; maxVersion: number };
  let apis = (producer as Record<symbol, Api[]>)[field] ?? [];
  Object.defineProperty(producer, field, {
    get: () => apis,
    set: (list: Api[]) => {
      apis = list.map((a) =>
        a.name === 'AddPartitionsToTxn' ? { ...a, maxVersion: Math.min(a.maxVersion, 3) } : a,
      );
    },
  });
}

/**
 * Produce requests encoded by produce-request.ts (the same bytes as the library's, in one buffer):
 * the library's encoder was the producer's largest CPU cost. The library resolves every API through
 * one instance method; this answers 'Produce' with the faster encoder of the same version.
 */
function useFastProduceEncoding(producer: object): void {
  type GetApi = (name: string, callback: (error: unknown, api?: { version: number }) => void) => void;
  let field: symbol | undefined;
  for (let o: object | null = producer; o && !field; o = Object.getPrototypeOf(o)) {
    field = Object.getOwnPropertySymbols(o).find((s) => s.description === 'plt.kafka.base.getApi');
  }
  const target = producer as Record<symbol, GetApi>;
  const original = field ? target[field] : undefined;
  if (!field || typeof original !== 'function')
    throw new Error('the Kafka client library changed: its API lookup was not found');
  target[field] = function (this: object, name, callback) {
    if (name !== 'Produce') return original.call(this, name, callback);
    original.call(this, name, (error, api) => {
      callback(error, error || !api ? api : (fastProduceApi(api.version) ?? api));
    });
  };
}
