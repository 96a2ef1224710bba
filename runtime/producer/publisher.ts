import { backoffDelay, sleep } from '../core/backoff.ts';
import { flavorOfGtid, sequenceOfState } from '../core/binlog/source.ts';
import {
  type Checkpoint,
  checkpointTopic,
  checkpointTopicSpec,
  encodeCheckpoint,
  producerTransactionalId,
} from '../core/checkpoint/format.ts';
import {
  createDurableProducer,
  createKafkaAdmin,
  type DurableProducer,
  isFencedError,
  isTooLargeError,
  type KafkaAdmin,
  type KafkaSecurity,
  type MessageLimits,
  type OutgoingRecord,
} from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import { budgetOf, itemsThatFit, recordBytes } from './batching.ts';
import type { ProducerConfig } from './config.ts';
import type { ProducerMetrics } from './metrics.ts';

/** Records of one step (a row change or a commit) and the checkpoint that holds once they are in Kafka. */
export type QueueItem = {
  records: OutgoingRecord[];
  progress: Checkpoint;
  /** For metrics: the row change this item carries. */
  event?: { db: string; table: string; op: string };
  /** For commit items: the source commit time, to measure commit → ack. */
  commitTsMs?: number;
};

export type PublisherOptions = {
  brokers: string[];
  security?: KafkaSecurity | undefined;
  name: string;
  topicPrefix: string;
  partitions: number;
  replicationFactor: number;
  /** Records per produce request; also the backlog from which a transaction goes without lingering. */
  batchRecords: number;
  lingerMs: number;
  maxQueuedRecords: number;
  log: Logger;
  metrics: ProducerMetrics;
  /** Called after every acknowledged Kafka transaction with the checkpoint it wrote. */
  onAck?: (checkpoint: Checkpoint, items: QueueItem[]) => void;
  /** Kafka clients; the defaults connect to `brokers` (unit tests pass fakes). */
  clients?: { admin: () => KafkaAdmin; producer: () => DurableProducer };
  /** Retry backoff base in ms (default 100, doubling up to 5 s). */
  retryBaseMs?: number;
};

export class FencedError extends Error {
  constructor(cause: unknown) {
    super('another producer with the same transactional id took over: this instance stops publishing', {
      cause,
    });
    this.name = 'FencedError';
  }
}

/** Topic of the references to change events too large for any Kafka batch (see docs/producer.md). */
export function oversizedTopic(topicPrefix: string): string {
  return `${topicPrefix}.__oversized`;
}

/**
 * How long one Kafka transaction should take at most (sized from the measured send rate): far below the
 * transaction timeout (TRANSACTION_TIMEOUT_MS, 15 s), after which the broker would abort it and fence
 * the producer, and short enough that read_committed readers are not held back long.
 */
export const TRANSACTION_TARGET_MS = 1000;

/** Failed transactions in a row after which the producer reports that it cannot make progress. */
export const STALLED_AFTER_FAILURES = 3;

/**
 * Publishes queued row changes in Kafka transactions, each ending with the checkpoint record of its
 * last item, so events and checkpoint become visible together or not at all. Bounded: the caller
 * pauses reading when `full` and resumes on `onRoom`.
 */
export class Publisher {
  private readonly opts: PublisherOptions;
  private readonly queue: QueueItem[] = [];
  private queued = 0;
  private producer: DurableProducer | undefined;
  private admin: KafkaAdmin | undefined;
  private readonly knownTopics = new Set<string>();
  private pumping: Promise<void> | undefined;
  private flushRequested = false;
  private closed = false;
  private roomListeners: Array<() => void> = [];
  private fatalError: Error | undefined;
  private rejectFatal: ((err: Error) => void) | undefined;
  /** Rejects when publishing cannot continue (fenced). */
  readonly fatal: Promise<never>;
  acked: Checkpoint | null = null;
  /** Message size limits read from the brokers at start (and again after MESSAGE_TOO_LARGE). */
  private limits: MessageLimits | undefined;
  /** Lowered when the broker refuses a batch sized within the limits it reports. */
  private budgetFactor = 1;
  private failuresInARow = 0;
  private lastFailure = '';
  /** Send rate of the recent transactions (moving average); 0 until one was sent. */
  private recordsPerMs = 0;

  constructor(opts: PublisherOptions) {
    this.opts = opts;
    this.fatal = new Promise<never>((_, reject) => {
      this.rejectFatal = reject;
    });
    this.fatal.catch(() => undefined);
  }

  async init(): Promise<void> {
    this.admin =
      this.opts.clients?.admin() ??
      createKafkaAdmin({
        brokers: this.opts.brokers,
        clientId: `${this.opts.name}.producer-admin`,
        security: this.opts.security,
      });
    const spec = checkpointTopicSpec(this.opts.topicPrefix, this.opts.replicationFactor);
    await this.admin.ensureTopics([spec]);
    this.knownTopics.add(spec.name);
    this.limits = await this.admin.messageLimits([spec.name]);
    this.opts.log.info(
      { messageMaxBytes: this.limits.broker, batchBudgetBytes: budgetOf(this.limits.broker) },
      'Kafka message size limit read',
    );
    this.producer = this.newProducer();
    // Before the checkpoint is read: fences a previous instance and settles what it left open.
    await this.producer.init();
  }

  /**
   * Why the producer cannot make progress, while its Kafka transactions keep failing
   * (`STALLED_AFTER_FAILURES` in a row); undefined while it can.
   */
  get stalled(): string | undefined {
    if (this.failuresInARow < STALLED_AFTER_FAILURES) return undefined;
    return `Kafka transactions failing: ${this.failuresInARow} attempts in a row (last: ${this.lastFailure})`;
  }

  private limitOf(topic: string): number {
    if (!this.limits) throw new Error('publisher not initialised');
    return this.limits.topics.get(topic) ?? this.limits.broker;
  }

  private budget(topic: string): number {
    return budgetOf(this.limitOf(topic), this.budgetFactor);
  }

  private newProducer(): DurableProducer {
    if (this.opts.clients) return this.opts.clients.producer();
    return createDurableProducer({
      brokers: this.opts.brokers,
      security: this.opts.security,
      clientId: `${this.opts.name}.producer`,
      transactionalId: producerTransactionalId(this.opts.name),
    });
  }

  get queuedRecords(): number {
    return this.queued;
  }

  get full(): boolean {
    return this.queued >= this.opts.maxQueuedRecords;
  }

  onRoom(listener: () => void): void {
    this.roomListeners.push(listener);
  }

  enqueue(item: QueueItem): void {
    if (this.closed) throw new Error('publisher is closed');
    if (this.fatalError) throw this.fatalError;
    this.queue.push(item);
    this.queued += item.records.length;
    // Also here, not only around sends: while Kafka is down one send retries for as long as the
    // outage lasts, and the gauge must show the queue filling up to its bound meanwhile.
    this.opts.metrics.queuedRecords.set(this.queued);
    this.pump();
  }

  /** Resolves once everything queued so far is acknowledged (or rejects if publishing failed for good). */
  async flush(): Promise<void> {
    this.flushRequested = true;
    while (this.queue.length > 0) {
      if (this.fatalError) throw this.fatalError;
      this.pump();
      await this.pumping;
    }
    this.flushRequested = false;
    if (this.fatalError) throw this.fatalError;
  }

  private pump(): void {
    if (this.pumping || this.fatalError) return;
    this.pumping = this.run()
      .catch((err: unknown) => {
        this.fatalError ??= err instanceof Error ? err : new Error(String(err));
        this.rejectFatal?.(this.fatalError);
      })
      .finally(() => {
        this.pumping = undefined;
        if (this.queue.length > 0 && !this.fatalError && !this.closed) this.pump();
      });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0 && !this.fatalError) {
      if (this.queued < this.opts.batchRecords && !this.flushRequested && this.opts.lingerMs > 0) {
        await sleep(this.opts.lingerMs);
      }
      this.opts.metrics.queuedRecords.set(this.queued);
      const batch = await this.publishNext();
      if (this.fatalError || !batch) return;
      const last = batch[batch.length - 1];
      if (!last) return;
      let count = 0;
      for (const item of batch) count += item.records.length;
      this.queue.splice(0, batch.length);
      this.queued -= count;
      this.opts.metrics.queuedRecords.set(this.queued);
      this.acked = last.progress;
      this.observeAck(batch);
      // Room again once a transaction is acknowledged: the reader then fills the queue while the
      // next one (at most half the bound) is in flight. Waiting for half empty would leave it paused
      // for a whole transaction whenever the backlog is large.
      if (!this.full) {
        for (const l of this.roomListeners) l();
      }
    }
  }

  private observeAck(batch: QueueItem[]): void {
    const now = Date.now();
    const m = this.opts.metrics;
    // Counted per table and op for the whole batch: a labelled inc per event costs more than the event's encoding.
    // Items of a run of changes share their event object (pipeline.ts): counted per object first.
    const counts = new Map<{ db: string; table: string; op: string }, number>();
    for (const item of batch) {
      const e = item.event;
      if (e) counts.set(e, (counts.get(e) ?? 0) + 1);
      if (item.commitTsMs) m.commitToAckSeconds.observe(Math.max(0, now - item.commitTsMs) / 1000);
    }
    for (const [{ db, table, op }, n] of counts) m.events.inc({ db, table, op }, n);
    const cp = this.acked;
    if (cp) {
      m.binlogPosition.reset();
      m.binlogPosition.set({ file: cp.file }, cp.pos);
      if (cp.gtid) {
        try {
          m.gtidSequence.set(Number(sequenceOfState(flavorOfGtid(cp.gtid), cp.gtid)));
        } catch {
          // A state the gauge cannot express (several MariaDB domains): it keeps its last value.
        }
      }
      this.opts.onAck?.(cp, batch);
    }
  }

  /**
   * Sends the next transaction from the head of the queue, retrying until Kafka accepts it; returns
   * the items it carried. The batch is chosen anew on every attempt (the head of the queue does not
   * change meanwhile, so order is kept): the whole backlog up to `transactionRecords`, split into produce requests
   * that each fit the topics' byte limits.
   */
  private async publishNext(): Promise<QueueItem[] | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed && attempt > 0) throw new Error('publisher closed while Kafka was unavailable');
      let records: OutgoingRecord[] = [];
      try {
        const candidate = this.candidate();
        await this.ensureTopics(candidate);
        for (const item of candidate) this.divertOversized(item);
        await this.ensureTopics(candidate);
        const last = candidate[candidate.length - 1];
        if (!last) return undefined;
        const requests = this.requestsOf(candidate);
        requests.at(-1)?.push({
          topic: checkpointTopic(this.opts.topicPrefix),
          key: this.opts.name,
          value: encodeCheckpoint({ ...last.progress, ts_ms: Date.now() }),
        });
        records = requests.flat();
        const timer = this.opts.metrics.sendSeconds.startTimer();
        const t0 = performance.now();
        await this.producerOrThrow().sendRequests(requests);
        timer();
        const rate = records.length / Math.max(1, performance.now() - t0);
        this.recordsPerMs = this.recordsPerMs === 0 ? rate : 0.5 * this.recordsPerMs + 0.5 * rate;
        this.failuresInARow = 0;
        this.opts.metrics.publishStalled.set(0);
        this.opts.metrics.failuresInARow.set(0);
        return candidate;
      } catch (err) {
        if (isFencedError(err)) {
          this.fatalError = new FencedError(err);
          this.rejectFatal?.(this.fatalError);
          return undefined;
        }
        this.failuresInARow++;
        this.lastFailure = err instanceof Error ? err.message : String(err);
        this.opts.metrics.sendFailures.inc();
        this.opts.metrics.failuresInARow.set(this.failuresInARow);
        this.opts.metrics.publishStalled.set(this.stalled ? 1 : 0);
        if (isTooLargeError(err)) await this.onTooLarge(err, records);
        const delay = backoffDelay(attempt, { baseMs: this.opts.retryBaseMs ?? 100, maxMs: 5000 });
        this.opts.log.warn(
          { err, attempt, delayMs: delay, records: records.length },
          'Kafka transaction failed: retrying',
        );
        // A fresh client: re-initialising the transactional id aborts whatever the failed one left open.
        await this.producer?.close().catch(() => undefined);
        this.producer = undefined;
        await sleep(delay);
        this.producer = this.newProducer();
      }
    }
  }

  /** The records of `items`, in order, cut into produce requests that fit the byte budgets. */
  private requestsOf(items: QueueItem[]): OutgoingRecord[][] {
    const requests: OutgoingRecord[][] = [];
    const budget = (t: string) => this.budget(t);
    for (let from = 0; from < items.length; ) {
      const n = itemsThatFit(items, this.opts.batchRecords, budget, from);
      const request: OutgoingRecord[] = [];
      for (let i = from; i < from + n; i++) for (const r of (items[i] as QueueItem).records) request.push(r);
      requests.push(request);
      from += n;
    }
    return requests;
  }

  /**
   * Records one transaction takes at most: half the queue bound, so the reader keeps decoding and
   * encoding the next batch into the other half while this one's round trips (AddPartitions,
   * produce requests, EndTxn) are in flight. Sized by the backlog, not by time: the further the
   * reader is ahead (a slow broker, a catch-up), the larger the transaction, so catch-up throughput
   * is not bound by the broker's round trip. Also bounded by time: at the rate the last transactions
   * went (records per ms of their send), one lasts about `TRANSACTION_TARGET_MS`, far below the
   * transaction timeout after which the broker aborts it and fences this producer.
   */
  private get transactionRecords(): number {
    const byTime = Math.floor(this.recordsPerMs * TRANSACTION_TARGET_MS);
    return Math.max(this.opts.batchRecords, Math.min(Math.floor(this.opts.maxQueuedRecords / 2), byTime));
  }

  /** Items from the head of the queue up to `transactionRecords` records (the first one always). */
  private candidate(): QueueItem[] {
    const out: QueueItem[] = [];
    let count = 0;
    for (const item of this.queue) {
      if (out.length > 0 && count + item.records.length > this.transactionRecords) break;
      out.push(item);
      count += item.records.length;
    }
    return out;
  }

  /**
   * A record larger than its topic's batch budget can never be published: it is replaced, in the
   * same place of the stream and the same transaction as its neighbours, by a reference in
   * `<prefix>.__oversized` naming the row's key, topic, size, limit and source position, and the
   * stream goes on. Counted in `producer_oversized_events_total` and logged.
   */
  private divertOversized(item: QueueItem): void {
    const dlq = oversizedTopic(this.opts.topicPrefix);
    if (item.records.every((r) => r.topic === dlq || recordBytes(r) <= this.budget(r.topic))) return;
    item.records = item.records.map((r) => {
      if (r.topic === dlq) return r;
      const bytes = recordBytes(r);
      const limit = this.budget(r.topic);
      if (bytes <= limit) return r;
      let envelope: { op?: unknown; source?: unknown } = {};
      try {
        envelope = JSON.parse(r.value === null ? 'null' : String(r.value)) ?? {};
      } catch {
        // not JSON: the reference carries no envelope fields
      }
      const key = r.key === null ? null : String(r.key);
      const reference = {
        reason: 'message_too_large',
        topic: r.topic,
        key,
        bytes,
        limit_bytes: limit,
        op: envelope.op ?? null,
        source: envelope.source ?? null,
        ts_ms: Date.now(),
      };
      this.opts.metrics.oversizedEvents.inc({ topic: r.topic });
      this.opts.log.error(
        { topic: r.topic, key, bytes, limitBytes: limit, source: envelope.source },
        `change event of ${bytes} bytes exceeds the Kafka limit (${limit} bytes usable): published a reference to ${dlq} instead`,
      );
      return { topic: dlq, key: r.key, value: JSON.stringify(reference) };
    });
  }

  /**
   * The broker refused a batch as too large: read the limits again (a topic's max.message.bytes may
   * have been lowered since start); when they did not change, the size estimate was wrong for this
   * broker, so the byte budget is halved (down to 1/64) for every later transaction.
   */
  private async onTooLarge(err: unknown, records: OutgoingRecord[]): Promise<void> {
    const before = JSON.stringify([this.limits?.broker, [...(this.limits?.topics ?? [])]]);
    try {
      if (this.admin) this.limits = await this.admin.messageLimits([...this.knownTopics]);
    } catch {
      // Kafka unavailable: keep the limits read before
    }
    const after = JSON.stringify([this.limits?.broker, [...(this.limits?.topics ?? [])]]);
    if (before === after) this.budgetFactor = Math.max(1 / 64, this.budgetFactor / 2);
    this.opts.log.warn(
      {
        err,
        records: records.length,
        bytes: records.reduce((n, r) => n + recordBytes(r), 0),
        limitsChanged: before !== after,
        budgetFactor: this.budgetFactor,
      },
      'Kafka refused a batch as too large: re-sizing the next transactions',
    );
  }

  private producerOrThrow(): DurableProducer {
    if (!this.producer) throw new Error('publisher not initialised');
    return this.producer;
  }

  /** Creates the topics not seen yet and reads their message size limits. */
  private async ensureTopics(items: QueueItem[]): Promise<void> {
    const missing = new Set<string>();
    for (const item of items)
      for (const r of item.records) if (!this.knownTopics.has(r.topic)) missing.add(r.topic);
    if (missing.size === 0) return;
    if (!this.admin || !this.limits) throw new Error('publisher not initialised');
    await this.admin.ensureTopics(
      [...missing].map((name) => ({
        name,
        partitions: name === oversizedTopic(this.opts.topicPrefix) ? 1 : this.opts.partitions,
        replicationFactor: this.opts.replicationFactor,
      })),
    );
    const limits = await this.admin.messageLimits([...missing]);
    this.limits = { broker: limits.broker, topics: new Map([...this.limits.topics, ...limits.topics]) };
    for (const t of missing) this.knownTopics.add(t);
  }

  /** Stops accepting work. Call flush() first for a clean stop. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping?.catch(() => undefined);
    await this.producer?.close().catch(() => undefined);
    await this.admin?.close().catch(() => undefined);
  }
}

/** The publisher's settings as the producer's configuration gives them. */
export function publisherOptionsFrom(
  cfg: ProducerConfig,
  log: Logger,
  metrics: ProducerMetrics,
): PublisherOptions {
  return {
    brokers: cfg.brokers,
    security: cfg.security,
    name: cfg.name,
    topicPrefix: cfg.topicPrefix,
    partitions: cfg.partitions,
    replicationFactor: cfg.replicationFactor,
    batchRecords: cfg.batchRecords,
    lingerMs: cfg.lingerMs,
    maxQueuedRecords: cfg.maxQueuedRecords,
    log,
    metrics,
  };
}
