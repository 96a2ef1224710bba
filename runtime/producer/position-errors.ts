import type { InvalidReason } from '../core/binlog/validate.ts';

/** Why the server cannot stream from a position, as the producer reports it. */
export type UnavailableReason =
  | InvalidReason
  /** file/pos lies inside an event: the server would stream garbage or refuse. */
  | 'NotAnEventStart'
  /** The server itself refused the stream (error 1236) after the position had been checked. */
  | 'ServerRefused';

const POINT_ELSEWHERE =
  'or point the producer at a position the server has (SHOW BINARY LOGS, @@gtid_binlog_pos / @@gtid_executed): ' +
  'START_FROM for a pipeline without checkpoint, writeCheckpoint for one with';

/**
 * The binlog cannot serve the position the producer must resume from. SNAPSHOT_MODE=when_needed
 * repairs every case by re-snapshotting; otherwise the producer stops with this error.
 */
export class BinlogPositionUnavailableError extends Error {
  readonly reason: UnavailableReason;
  constructor(reason: UnavailableReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BinlogPositionUnavailableError';
    this.reason = reason;
  }
}

/** The events after the position were purged from the server's binlog. */
export class BinlogPurgedError extends BinlogPositionUnavailableError {
  constructor(reason: UnavailableReason, detail: string, options?: ErrorOptions) {
    super(
      reason,
      `the binlog position to resume from is no longer on the server (purged): ${detail}. ` +
        `Remedy: set SNAPSHOT_MODE=when_needed to re-snapshot the tables and continue from the head, ${POINT_ELSEWHERE}`,
      options,
    );
    this.name = 'BinlogPurgedError';
  }
}

/**
 * The position never existed on this server: a checkpoint from another server, a server restored
 * from an older backup, or a hand-written position. MariaDB would accept such a GTID and wait
 * forever for it, so this is found before streaming, never by the stream failing.
 */
export class BinlogPositionNotOnServerError extends BinlogPositionUnavailableError {
  constructor(reason: UnavailableReason, detail: string, options?: ErrorOptions) {
    super(
      reason,
      `the binlog position to resume from does not exist on this server: ${detail}. ` +
        `Remedy: if the source server was replaced or restored, set SNAPSHOT_MODE=when_needed to re-snapshot the tables and continue from the head, ${POINT_ELSEWHERE}`,
      options,
    );
    this.name = 'BinlogPositionNotOnServerError';
  }
}

/** Error 1236 (ER_MASTER_FATAL_ERROR_READING_BINLOG): the requested position/GTID is gone. */
export function isPurgedError(err: unknown): boolean {
  const e = err as { errno?: number; message?: string } | null;
  return e?.errno === 1236 || /could not find (first log file|gtid state)|purged/i.test(e?.message ?? '');
}
