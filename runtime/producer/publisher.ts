import {
  createDurableProducer,
  createKafkaAdmin,
  type DurableProducer,
  isFencedError,
  type KafkaAdmin,
  type OutgoingRecord,
} from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import {
  type Checkpoint,
  checkpointTopic,
  checkpointTopicSpec,
  encodeCheckpoint,
  producerTransactionalId,
} from './checkpoint.ts';
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
  name: string;
  topicPrefix: string;
  partitions: number;
  replicationFactor: number;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
      createKafkaAdmin({ brokers: this.opts.brokers, clientId: `${this.opts.name}.producer-admin` });
    const spec = checkpointTopicSpec(this.opts.topicPrefix, this.opts.replicationFactor);
    await this.admin.ensureTopics([spec]);
    this.knownTopics.add(spec.name);
    this.producer = this.newProducer();
  }

  private newProducer(): DurableProducer {
    if (this.opts.clients) return this.opts.clients.producer();
    return createDurableProducer({
      brokers: this.opts.brokers,
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
      const batch: QueueItem[] = [];
      let count = 0;
      for (const item of this.queue) {
        if (batch.length > 0 && count + item.records.length > this.opts.batchRecords) break;
        batch.push(item);
        count += item.records.length;
      }
      const last = batch[batch.length - 1];
      if (!last) return;
      this.opts.metrics.queuedRecords.set(this.queued);
      await this.sendWithRetry(batch, last.progress);
      if (this.fatalError) return;
      this.queue.splice(0, batch.length);
      this.queued -= count;
      this.opts.metrics.queuedRecords.set(this.queued);
      this.acked = last.progress;
      this.observeAck(batch);
      if (this.queued < this.opts.maxQueuedRecords / 2) {
        for (const l of this.roomListeners) l();
      }
    }
  }

  private observeAck(batch: QueueItem[]): void {
    const now = Date.now();
    const m = this.opts.metrics;
    for (const item of batch) {
      if (item.event) m.events.inc({ db: item.event.db, table: item.event.table, op: item.event.op });
      if (item.commitTsMs) m.commitToAckSeconds.observe(Math.max(0, now - item.commitTsMs) / 1000);
    }
    const cp = this.acked;
    if (cp) {
      m.binlogPosition.reset();
      m.binlogPosition.set({ file: cp.file }, cp.pos);
      const seq = cp.gtid ? /-(\d+)$/.exec(cp.gtid.split(',').at(-1) ?? '')?.[1] : undefined;
      if (seq) m.gtidSequence.set(Number(seq));
      this.opts.onAck?.(cp, batch);
    }
  }

  private async sendWithRetry(batch: QueueItem[], progress: Checkpoint): Promise<void> {
    const records: OutgoingRecord[] = [];
    for (const item of batch) for (const r of item.records) records.push(r);
    records.push({
      topic: checkpointTopic(this.opts.topicPrefix),
      key: this.opts.name,
      value: encodeCheckpoint({ ...progress, ts_ms: Date.now() }),
    });
    for (let attempt = 0; ; attempt++) {
      if (this.closed && attempt > 0) throw new Error('publisher closed while Kafka was unavailable');
      try {
        await this.ensureTopics(records);
        const timer = this.opts.metrics.sendSeconds.startTimer();
        await this.producerOrThrow().send(records);
        timer();
        return;
      } catch (err) {
        if (isFencedError(err)) {
          this.fatalError = new FencedError(err);
          this.rejectFatal?.(this.fatalError);
          return;
        }
        this.opts.metrics.sendFailures.inc();
        const delay = Math.min(5000, (this.opts.retryBaseMs ?? 100) * 2 ** Math.min(attempt, 6));
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

  private producerOrThrow(): DurableProducer {
    if (!this.producer) throw new Error('publisher not initialised');
    return this.producer;
  }

  private async ensureTopics(records: OutgoingRecord[]): Promise<void> {
    const missing = new Set<string>();
    for (const r of records) if (!this.knownTopics.has(r.topic)) missing.add(r.topic);
    if (missing.size === 0) return;
    if (!this.admin) throw new Error('publisher not initialised');
    await this.admin.ensureTopics(
      [...missing].map((name) => ({
        name,
        partitions: this.opts.partitions,
        replicationFactor: this.opts.replicationFactor,
      })),
    );
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
