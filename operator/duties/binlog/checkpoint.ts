import type { ResumePosition } from '../../../runtime/core/binlog/validate.ts';

/**
 * The producer's durable checkpoint as the operator sees it. The producer owns the storage; the
 * operator reads it for status and rewrites it only while the producer is confirmed stopped.
 */
export type Checkpoint = {
  position: ResumePosition;
  /** Source commit time (ms) of the last event the checkpoint covers, when known. */
  sourceTsMs?: number;
};

export type CheckpointStore = {
  read: () => Promise<Checkpoint | null>;
  write: (position: ResumePosition) => Promise<void>;
  /** No checkpoint: the producer starts from its startFrom/snapshot settings as on first start. */
  clear: () => Promise<void>;
};

/** Same resume point: GTIDs equal when both have one, file/pos equal when both have them. */
export function samePosition(
  a: ResumePosition | null | undefined,
  b: ResumePosition | null | undefined,
): boolean {
  if (!a || !b) return !a && !b;
  const gtidA = a.gtid || undefined;
  const gtidB = b.gtid || undefined;
  if (gtidA !== gtidB) return false;
  return a.file === b.file && (a.pos ?? 4) === (b.pos ?? 4);
}
