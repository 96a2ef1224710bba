import {
  isEventBoundary,
  readServerBinlogState,
  type ServerBinlogState,
} from '../../../runtime/core/binlog/server.ts';
import { stateAt } from '../../../runtime/core/binlog/source.ts';
import {
  type PositionVerdict,
  type ResumePosition,
  validatePosition,
} from '../../../runtime/core/binlog/validate.ts';
import type { Pool } from '../../../runtime/core/db/pool.ts';
import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import { SPEC_REMEDIES } from './remedies.ts';

export type StartFrom = PipelineSpec['producer']['startFrom'];

/** A startFrom turned into a concrete position the server has, or the reason it cannot be. */
export type Resolution =
  | { ok: true; position: ResumePosition; message: string }
  /** No fixed point: the checkpoint is removed and the producer applies startFrom itself (timestamp). */
  | { ok: true; clear: true; message: string }
  | { ok: false; verdict: Exclude<PositionVerdict, { valid: true }> };

/**
 * Resolves spec.producer.startFrom against the live server: earliest = start of the oldest binlog,
 * latest = the current head, position = the given file/pos (which must be an event boundary),
 * gtid = the given GTID (set). Every result is validated the same way a checkpoint is.
 */
export async function resolveStartFrom(
  pool: Pool,
  startFrom: StartFrom,
  snapshot: PipelineSpec['producer']['snapshot'],
): Promise<Resolution> {
  if (startFrom.kind === 'timestamp') {
    // Only the producer can find the first transaction at or after an instant (it reads event
    // times from the stream), and it does so when it has no checkpoint — unless it is told to take
    // a fresh snapshot in that case.
    if (snapshot === 'initial') {
      return {
        ok: false,
        verdict: {
          valid: false,
          reason: 'NoPosition',
          message:
            'startFrom.kind=timestamp on a running pipeline needs producer.snapshot never or when_needed',
          remedy:
            'with snapshot=initial a producer without checkpoint re-snapshots instead of seeking to the timestamp; change producer.snapshot, or use startFrom.kind=position or gtid',
          purged: false,
        },
      };
    }
    return {
      ok: true,
      clear: true,
      message: `timestamp ${startFrom.timestamp}: the producer seeks to it on start`,
    };
  }
  const state = await readServerBinlogState(pool);
  const position = await concretePosition(pool, startFrom, state);
  if ('verdict' in position) return { ok: false, verdict: position.verdict };
  const verdict = validatePosition(position, state, SPEC_REMEDIES);
  if (!verdict.valid) return { ok: false, verdict };
  if (position.file !== undefined && position.pos !== undefined) {
    const boundary = await isEventBoundary(pool, position.file, position.pos);
    if (!boundary) {
      return {
        ok: false,
        verdict: {
          valid: false,
          reason: 'PositionBeyondEnd',
          message: `${position.file}:${position.pos} is not the start of an event`,
          remedy: 'use an End_log_pos reported by SHOW BINLOG EVENTS, or a GTID',
          purged: false,
        },
      };
    }
  }
  return { ok: true, position, message: `${startFrom.kind} → ${describe(position)}` };
}

export function describe(p: ResumePosition): string {
  return [p.gtid ? `GTID ${p.gtid}` : '', p.file ? `${p.file}:${p.pos ?? 4}` : '']
    .filter(Boolean)
    .join(' / ');
}

async function concretePosition(
  pool: Pool,
  startFrom: StartFrom,
  state: ServerBinlogState,
): Promise<ResumePosition | { verdict: Exclude<PositionVerdict, { valid: true }> }> {
  switch (startFrom.kind) {
    case 'earliest': {
      const oldest = state.files[0]?.name ?? state.head.file;
      return { file: oldest, pos: 4, gtid: state.gtidPurged || null };
    }
    case 'latest':
      return { file: state.head.file, pos: state.head.pos, gtid: state.gtidExecuted || null };
    case 'position': {
      const file = startFrom.file ?? '';
      const pos = startFrom.pos ?? 4;
      return { file, pos, gtid: await gtidAt(pool, state, file, pos) };
    }
    case 'gtid':
      // The producer resumes a GTID checkpoint by GTID; file/pos only fill the checkpoint's required
      // fields (as the producer's own initial checkpoint does).
      return { gtid: startFrom.gtid ?? '', file: state.head.file, pos: 4 };
    case 'timestamp':
      throw new Error('unreachable: timestamp is resolved by the producer');
  }
}

/** The GTID state at an event boundary where the server knows it (MariaDB); MySQL resumes by file/pos. */
async function gtidAt(
  pool: Pool,
  state: ServerBinlogState,
  file: string,
  pos: number,
): Promise<string | null> {
  if (!state.files.some((f) => f.name === file)) return null;
  return stateAt(pool, file, pos);
}
