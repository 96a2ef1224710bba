import { backoffDelay, sleep } from '../core/backoff.ts';
import { advanceState } from '../core/binlog/source.ts';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import type { Logger } from '../core/logger.ts';
import type { BinlogReader, Commit, ReaderStart, RowChange } from './binlog/reader.ts';
import { recordsOf, type SourceIdentity } from './change-events.ts';
import type { ProducerMetrics } from './metrics.ts';
import { BinlogPurgedError, isPurgedError } from './position-errors.ts';
import type { SourceInfo } from './preflight.ts';
import type { Publisher } from './publisher.ts';
import type { StartFrom } from './start-from.ts';

/** Where to start reading for a checkpoint: GTID-based when it has one, file/position otherwise. */
export function readerStartOf(cp: Checkpoint): ReaderStart {
  return cp.gtid !== null
    ? { gtidSet: cp.gtid, skip: cp.partial }
    : { file: cp.file, pos: cp.pos, skip: cp.partial };
}

/** The first checkpoint for a pipeline without one, or null when the start is not a fixed point. */
export function initialCheckpoint(start: StartFrom, source: SourceInfo): Checkpoint | null {
  const base = { v: 1 as const, partial: null, source_ts_ms: 0, ts_ms: Date.now() };
  switch (start.kind) {
    case 'latest':
      return { ...base, gtid: source.gtidPos ?? null, file: source.file, pos: source.pos };
    case 'gtid':
      // file/pos are only a fallback for non-GTID resumes; a GTID checkpoint always resumes by GTID.
      return { ...base, gtid: start.gtidSet, file: source.file, pos: 4 };
    case 'position':
      return { ...base, gtid: null, file: start.file, pos: start.pos };
    default:
      return null;
  }
}

/**
 * Reader start for a configured StartFrom. `earliest` begins at the oldest binlog file still on the
 * server (a GTID start from nothing fails once any binlog was purged); `timestamp` at the newest
 * file created before the instant, skipping older transactions.
 */
export async function readerStartOfStartFrom(
  start: StartFrom,
  locate: { oldestFile: () => Promise<string>; fileAt: (atMs: number) => Promise<string> },
): Promise<ReaderStart> {
  switch (start.kind) {
    case 'earliest':
      return { file: await locate.oldestFile(), pos: 4 };
    case 'timestamp':
      return { file: await locate.fileAt(start.atMs), pos: 4, notBeforeMs: start.atMs };
    case 'latest':
      return { atEnd: true };
    case 'gtid':
      return { gtidSet: start.gtidSet };
    case 'position':
      return { file: start.file, pos: start.pos };
  }
}

/** MariaDB GTID state after `gtid` committed, for streams zongji could not seed (source.ts). */
export const advanceGtidPosition = advanceState;

/**
 * Streams the binlog into the publisher, resuming from the last acknowledged checkpoint after any
 * stream error (MariaDB restart, network), with back-pressure from Kafka pausing the reader.
 */
export class ResumingBinlogStream {
  private readonly reader: BinlogReader;
  private readonly publisher: Publisher;
  private readonly src: SourceIdentity;
  private readonly log: Logger;
  private readonly metrics: ProducerMetrics;
  private stopping = false;
  private generation = 0;
  private wake: (() => void) | undefined;
  /** State after the last commit seen by the reader (not necessarily acknowledged yet). */
  private last: { gtid: string | null; file: string; pos: number; tsMs: number } | null = null;
  streaming = false;
  private lastEvent: { db: string; table: string; op: string } | undefined;

  constructor(deps: {
    reader: BinlogReader;
    publisher: Publisher;
    src: SourceIdentity;
    log: Logger;
    metrics: ProducerMetrics;
  }) {
    this.reader = deps.reader;
    this.publisher = deps.publisher;
    this.src = deps.src;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.publisher.onRoom(() => {
      if (this.reader.isPaused) {
        this.reader.resume();
        this.metrics.readerPaused.set(0);
      }
    });
  }

  /**
   * Runs until stop(). `first` is the start when there is no checkpoint yet; afterwards (and on
   * every restart) the acknowledged checkpoint is the start.
   */
  async run(first: { start: ReaderStart; checkpoint: Checkpoint | null }): Promise<void> {
    let start = first.start;
    if (first.checkpoint)
      this.last = { ...first.checkpoint, gtid: first.checkpoint.gtid, tsMs: first.checkpoint.source_ts_ms };
    let attempt = 0;
    while (!this.stopping) {
      const gen = ++this.generation;
      const failure = new Promise<Error>((resolve) => {
        this.wake = () => resolve(new Error('stopped'));
        this.reader
          .start(start, {
            onChange: (c) => gen === this.generation && this.onChange(c),
            onCommit: (c) => gen === this.generation && this.onCommit(c),
            onError: (err) => gen === this.generation && resolve(err),
          })
          .then(
            () => {
              this.streaming = true;
              attempt = 0;
              this.log.info({ start }, 'streaming the binlog');
            },
            (err: unknown) => resolve(err instanceof Error ? err : new Error(String(err))),
          );
      });
      const err = await failure;
      this.streaming = false;
      this.generation++;
      this.reader.stop();
      this.metrics.readerPaused.set(0);
      // Everything read so far goes out first; the acknowledged checkpoint is then exactly where
      // the reader stopped, so the restart neither skips nor repeats anything.
      await this.publisher.flush();
      if (this.stopping) return;
      // Second line of defence: the position was checked before streaming, but may have been purged
      // since (or purged while the stream was down).
      // A transaction zongji cannot decode (MySQL's compressed TRANSACTION_PAYLOAD_EVENT, written when a
      // session turns binlog_transaction_compression on): every reconnect would stop at it again.
      if (/TRANSACTION_PAYLOAD_EVENT/.test(err.message)) {
        throw new Error(
          'the binlog holds a compressed transaction (binlog_transaction_compression=ON, globally or in a session), which cannot be decoded: ' +
            'turn compression off for every writer, then restart the producer from a position after that transaction or re-snapshot',
          { cause: err },
        );
      }
      if (isPurgedError(err)) {
        throw new BinlogPurgedError('ServerRefused', `the server refused the stream: ${err.message}`, {
          cause: err,
        });
      }
      attempt++;
      this.metrics.reconnects.inc();
      const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 10_000 });
      this.log.warn({ err, attempt, delayMs: delay }, 'binlog stream failed: reconnecting');
      await sleep(delay);
      const acked = this.publisher.acked;
      if (acked) start = readerStartOf(acked);
    }
  }

  private onChange(change: RowChange): void {
    const records = recordsOf(this.src, change, Date.now());
    const last = this.last;
    this.publisher.enqueue({
      records,
      event: this.eventOf(change),
      progress: {
        v: 1,
        gtid: last?.gtid ?? null,
        file: last?.file ?? change.file,
        pos: last?.pos ?? change.pos,
        partial: change.gtid ? { gtid: change.gtid, rows: change.row + 1 } : null,
        source_ts_ms: last?.tsMs ?? 0,
        ts_ms: 0,
      },
    });
    if (this.publisher.full && !this.reader.isPaused) {
      this.reader.pause();
      this.metrics.readerPaused.set(1);
    }
  }

  /** The metrics label of a change: one object per run of same table and op (counted per object at ack). */
  private eventOf(change: RowChange): { db: string; table: string; op: string } {
    const last = this.lastEvent;
    if (last && last.op === change.op && last.table === change.table && last.db === change.db) return last;
    this.lastEvent = { db: change.db, table: change.table, op: change.op };
    return this.lastEvent;
  }

  private onCommit(commit: Commit): void {
    this.last = {
      gtid: commit.gtidSet ?? advanceGtidPosition(this.last?.gtid ?? null, commit.gtid),
      file: commit.file,
      pos: commit.pos,
      tsMs: commit.tsMs,
    };
    this.publisher.enqueue({
      records: [],
      commitTsMs: commit.tsMs,
      progress: {
        v: 1,
        gtid: this.last.gtid,
        file: commit.file,
        pos: commit.pos,
        partial: null,
        source_ts_ms: commit.tsMs,
        ts_ms: 0,
      },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
  }
}
