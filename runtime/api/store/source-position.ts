import { readSourceState } from '../../core/binlog/source.ts';
import type { Pool } from '../../core/db/pool.ts';

/**
 * What the source (MySQL/MariaDB) has committed, as far as this replica knows, as a source sequence
 * (runtime/core/binlog/source.ts): consistency tokens naming a later one are refused. Kept in memory,
 * raised by this replica's own commits, and read again from the server only when a token is beyond it
 * (a write through another replica), with concurrent refreshes coalesced into one query.
 */
export type SourcePosition = {
  /** Raises the known position to a commit this process has seen. */
  observe(sequence: bigint): void;
  /** True when the source has committed sequence `sequence` (refreshing once if it is beyond what is known). */
  covers(sequence: bigint): Promise<boolean>;
};

export function createSourcePosition(pool: Pool): SourcePosition {
  let known = -1n;
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  const raise = (seq: bigint) => {
    if (seq > known) known = seq;
  };

  async function load(): Promise<void> {
    raise((await readSourceState(pool)).sequence);
  }

  /** A refresh that starts after the call: one already running may predate the caller's commit. */
  function refresh(): Promise<void> {
    if (!running) {
      running = load().finally(() => {
        running = null;
      });
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return refresh();
      });
    return queued;
  }

  return {
    observe: raise,
    async covers(sequence) {
      if (known >= sequence) return true;
      await refresh();
      return known >= sequence;
    },
  };
}
