import { backoffDelay, sleep } from '../core/backoff.ts';
import type { CachedTable } from '../core/cache/rows.ts';
import type { CacheWriter } from '../core/cache/writer.ts';
import type { ConsumedMessage, MessageStream, PartitionOffset } from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import type { DeadLetter, DeadLetters } from './dead-letters.ts';
import { type DecodedChange, decodeMessage } from './decode.ts';
import type { ConsumerMetrics } from './metrics.ts';
import type { ReplicaAcks } from './replica-acks.ts';
import type { SourceHorizon } from './source-horizon.ts';

/** Thrown out of a batch when shutdown interrupts its retries: nothing of it is committed. */
export class ShutdownInterrupted extends Error {
  constructor() {
    super('shutdown interrupted the batch before it was applied');
    this.name = 'ShutdownInterrupted';
  }
}

/**
 * Applies one batch of change messages: poisoned ones to the dead-letter topic, the rest to Redis in one
 * pipelined round trip, then the offsets (after the last message of each partition, past the commit
 * markers that follow it once the client has fetched them: `MessageStream.offsetAfter`). Redis or
 * Kafka failures are retried with backoff until they succeed or shutdown begins; offsets are only
 * committed after everything before them is durable, so a crash at any point replays (idempotently)
 * and loses nothing.
 */
export class Materialiser {
  private readonly deps: {
    tables: ReadonlyMap<string, CachedTable>;
    writer: CacheWriter;
    deadLetters: DeadLetters;
    offsets: Pick<MessageStream, 'offsetAfter' | 'untouchedPositions' | 'commit'>;
    metrics: ConsumerMetrics;
    log: Logger;
    isStopping: () => boolean;
    /** Confirms a batch reached Redis replicas before its offsets are committed (Sentinel). */
    replicas?: Pick<ReplicaAcks, 'confirm'> | undefined;
    /** Refuses versions beyond what the source has produced (absent: no MySQL to ask). */
    horizon?: Pick<SourceHorizon, 'beyond'> | undefined;
    now?: () => number;
    /** Told about every applied batch (the consistency checker samples it, the position is recorded). */
    onApplied?: (changes: readonly DecodedChange[], applied: readonly boolean[]) => void;
  };
  private readonly commits = new Set<Promise<void>>();
  /**
   * Settles once every batch handed to `apply` so far has finished: true if all of them were applied.
   * Batches may be applied side by side; what follows a batch (its applied positions, its offsets) waits
   * for this, so a marker or an offset never runs ahead of an earlier batch that is still retrying.
   */
  private ordered: Promise<boolean> = Promise.resolve(true);
  private readonly freshness: Record<'source' | 'producer' | 'kafka', { observe: (v: number) => void }>;
  /** Per partition: the last applied message and the highest offset requested for it. */
  private readonly tails = new Map<string, { last: ConsumedMessage; requested: bigint }>();
  private healthy = true;

  constructor(deps: Materialiser['deps']) {
    this.deps = deps;
    // Labelled children once: a labelled observe per change would hash the labels every time.
    const f = deps.metrics.freshness;
    this.freshness = { source: f.labels('source'), producer: f.labels('producer'), kafka: f.labels('kafka') };
  }

  /** False while Redis or the DLQ is failing. */
  get isHealthy(): boolean {
    return this.healthy;
  }

  /**
   * Applies one batch. Several may be under way at once (each is idempotent and order-independent in
   * Redis); their applied positions and offsets are recorded in the order the batches were handed over,
   * and not at all after a batch that was not applied (shutdown): those offsets are replayed.
   */
  async apply(messages: readonly ConsumedMessage[]): Promise<void> {
    const previous = this.ordered;
    let settle: (applied: boolean) => void = () => {};
    this.ordered = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    try {
      const applied = await this.write(messages);
      if (!(await previous)) throw new ShutdownInterrupted();
      if (applied) this.deps.onApplied?.(applied.changes, applied.applied);
      this.commit(messages);
      settle(true);
    } catch (err) {
      settle(false);
      throw err;
    }
  }

  /** Decodes, dead-letters and writes a batch; what was applied, for `onApplied`. */
  private async write(
    messages: readonly ConsumedMessage[],
  ): Promise<{ changes: DecodedChange[]; applied: boolean[] } | undefined> {
    const { metrics } = this.deps;
    let changes: DecodedChange[] = [];
    let changeMessages: ConsumedMessage[] = [];
    const letters: DeadLetter[] = [];
    const letter = (m: ConsumedMessage, reason: string): DeadLetter => ({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key ?? null,
      value: m.value ?? null,
      reason,
    });
    for (const m of messages) {
      const table = this.deps.tables.get(m.topic);
      const key = m.key ?? null;
      const value = m.value ?? null;
      const decoded = table
        ? decodeMessage(table, key, value)
        : { kind: 'poison' as const, reason: `topic ${m.topic} is not a cached table` };
      if (decoded.kind === 'change') {
        changes.push(decoded.change);
        changeMessages.push(m);
      } else if (decoded.kind === 'tombstone') {
        metrics.messages.inc({ topic: m.topic, outcome: 'tombstone' });
      } else {
        letters.push(letter(m, decoded.reason));
      }
    }

    const { horizon } = this.deps;
    if (horizon && changes.length > 0) {
      const beyond = await this.retry('source position check', () =>
        horizon.beyond(changes.map((c) => c.version)),
      );
      if (beyond.size > 0) {
        changeMessages.forEach((m, i) => {
          const reason = beyond.get(i);
          if (reason !== undefined) letters.push(letter(m, reason));
        });
        changes = changes.filter((_, i) => !beyond.has(i));
        changeMessages = changeMessages.filter((_, i) => !beyond.has(i));
      }
    }

    if (letters.length > 0) {
      await this.retry('dead-letter publish', () => this.deps.deadLetters.send(letters));
      for (const l of letters) {
        this.deps.log.warn(
          { topic: l.topic, partition: l.partition, offset: l.offset.toString(), reason: l.reason },
          'dead-lettered',
        );
        metrics.dlq.inc({ topic: l.topic });
        metrics.messages.inc({ topic: l.topic, outcome: 'dlq' });
      }
    }

    let result: { changes: DecodedChange[]; applied: boolean[] } | undefined;
    if (changes.length > 0) {
      const started = performance.now();
      // Applied again when the replicas did not confirm it: after a failover the new master may lack it.
      let firstApplied: boolean[] | undefined;
      const applied = await this.retry('redis apply', async () => {
        const result = await this.deps.writer.apply(changes);
        firstApplied ??= result;
        await this.deps.replicas?.confirm();
        return firstApplied;
      });
      metrics.applySeconds.observe((performance.now() - started) / 1000);
      result = { changes, applied };
      const now = (this.deps.now ?? Date.now)();
      const outcomes = new Map<string, number>(); // one counter increment per topic and outcome
      changes.forEach((c, i) => {
        const m = changeMessages[i];
        const outcome = `${m?.topic ?? ''}\u0000${applied[i] ? 'applied' : 'stale'}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (c.sourceTsMs > 0) this.freshness.source.observe(Math.max(0, now - c.sourceTsMs) / 1000);
        if (c.emittedTsMs > 0) this.freshness.producer.observe(Math.max(0, now - c.emittedTsMs) / 1000);
        const kafkaTs = Number(m?.timestamp ?? 0);
        if (kafkaTs > 0) this.freshness.kafka.observe(Math.max(0, now - kafkaTs) / 1000);
      });
      for (const [key, n] of outcomes) {
        const [topic, outcome] = key.split('\u0000');
        metrics.messages.inc({ topic, outcome }, n);
      }
    }
    metrics.batchSize.observe(messages.length);
    return result;
  }

  /** Waits for every commit requested so far (shutdown calls this before closing the consumer). */
  async flushCommits(): Promise<void> {
    await Promise.allSettled([...this.commits]);
  }

  /**
   * Commits the partitions whose fetch position moved past control records after their last applied
   * message (a fetch of only a commit marker), or with no message at all since the committed offset
   * (it pointed at a marker); the service calls it after every fetch.
   */
  commitSettled(): void {
    this.commitTails([...this.tails.keys()]);
    const untouched = this.deps.offsets.untouchedPositions();
    if (untouched.length > 0) this.send(untouched, () => undefined);
  }

  private commit(messages: readonly ConsumedMessage[]): void {
    const keys = new Set<string>();
    for (const m of messages) {
      const key = `${m.topic}\u0000${m.partition}`;
      keys.add(key);
      this.tails.set(key, { last: m, requested: -1n });
    }
    this.commitTails(keys);
  }

  private commitTails(keys: Iterable<string>): void {
    const offsets: PartitionOffset[] = [];
    const requested: { tail: { requested: bigint }; offset: bigint }[] = [];
    for (const key of keys) {
      const tail = this.tails.get(key);
      if (!tail) continue;
      const offset = this.deps.offsets.offsetAfter(tail.last);
      if (offset <= tail.requested) continue;
      tail.requested = offset;
      requested.push({ tail, offset });
      const { topic, partition, leaderEpoch } = tail.last;
      offsets.push({ topic, partition, offset, leaderEpoch });
    }
    if (offsets.length === 0) return;
    // A failed commit: the next fetch asks again for a partition that saw nothing newer.
    this.send(offsets, () => {
      for (const r of requested) if (r.tail.requested === r.offset) r.tail.requested = -1n;
    });
  }

  private send(offsets: PartitionOffset[], onFailure: () => void): void {
    // Not awaited: the next batch can be applied meanwhile. A failed commit (e.g. the partition moved
    // in a rebalance) only means the new owner replays a few already-applied messages.
    const p = this.deps.offsets
      .commit(offsets)
      .catch((err: unknown) => {
        onFailure();
        this.deps.log.warn(
          { err, partitions: offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`) },
          'offset commit failed; will replay',
        );
      })
      .finally(() => this.commits.delete(p));
    this.commits.add(p);
  }

  private async retry<T>(what: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await run();
        this.healthy = true;
        return result;
      } catch (err) {
        this.healthy = false;
        if (what === 'redis apply') this.deps.metrics.redisErrors.inc();
        if (this.deps.isStopping()) throw new ShutdownInterrupted();
        const delay = backoffDelay(attempt, { baseMs: 100, maxMs: 5000 });
        this.deps.log.error({ err, attempt, delayMs: delay }, `${what} failed; retrying`);
        await sleep(delay);
        if (this.deps.isStopping()) throw new ShutdownInterrupted();
      }
    }
  }
}
