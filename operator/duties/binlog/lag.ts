import type { ServerBinlogState } from '../../../runtime/core/binlog/server.ts';
import { stateCovers } from '../../../runtime/core/binlog/source.ts';
import type { Checkpoint } from './checkpoint.ts';

/**
 * Seconds the producer's checkpoint is behind the source. Caught up (checkpoint at the server's
 * head, by GTID or file/pos) is 0 however old the last event is — an idle source is not a lagging
 * producer. Otherwise it is the age of the last event the checkpoint covers, measured on the
 * server's clock. Undefined when the checkpoint does not carry the event time.
 */
export function secondsBehindSource(checkpoint: Checkpoint, server: ServerBinlogState): number | undefined {
  if (caughtUp(checkpoint, server)) return 0;
  if (checkpoint.sourceTsMs === undefined) return undefined;
  return Math.max(0, Math.round((server.nowMs - checkpoint.sourceTsMs) / 100) / 10);
}

function caughtUp(checkpoint: Checkpoint, server: ServerBinlogState): boolean {
  const p = checkpoint.position;
  if (p.file !== undefined && p.file === server.head.file && (p.pos ?? 4) >= server.head.pos) return true;
  return p.gtid ? stateCovers(server.flavor, p.gtid, server.gtidExecuted) : false;
}
