import type { Pool } from '../../core/db/pool.ts';
import { committedSequences, gtidStream } from './gtid.ts';

/**
 * What the source (MySQL/MariaDB) has committed, as far as this replica knows: consistency tokens
 * naming a later position are refused. Kept in memory, raised by this replica's own commits, and
 * read again from the server only when a token is beyond it (a write through another replica), with
 * concurrent refreshes coalesced into one query.
 */
export type SourcePosition = {
  /** Raises the known position to a commit this process has seen. */
  observe(gtid: string): void;
  /** True when the source has committed `gtid` (refreshing once if it is beyond what is known). */
  covers(gtid: string): Promise<boolean>;
};

export function createSourcePosition(pool: Pool): SourcePosition {
  const known = new Map<string, bigint>();
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  const raise = (stream: string, seq: bigint) => {
    if (seq > (known.get(stream) ?? -1n)) known.set(stream, seq);
  };

  async function load(flavor: 'mariadb' | 'mysql'): Promise<void> {
    const variable = flavor === 'mariadb' ? '@@global.gtid_binlog_pos' : '@@global.gtid_executed';
    const [rows] = await pool.query(`SELECT ${variable} AS pos`);
    const value = String((rows as { pos: string | null }[])[0]?.pos ?? '');
    for (const [stream, seq] of committedSequences(flavor, value)) raise(stream, seq);
  }

  /** A refresh that starts after the call: one already running may predate the caller's commit. */
  function refresh(flavor: 'mariadb' | 'mysql'): Promise<void> {
    if (!running) {
      running = load(flavor).finally(() => {
        running = null;
      });
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = null;
        return refresh(flavor);
      });
    return queued;
  }

  return {
    observe(gtid) {
      const g = gtidStream(gtid);
      if (g) raise(g.stream, g.seq);
    },
    async covers(gtid) {
      const g = gtidStream(gtid);
      if (!g) return false;
      if ((known.get(g.stream) ?? -1n) >= g.seq) return true;
      await refresh(g.flavor);
      return (known.get(g.stream) ?? -1n) >= g.seq;
    },
  };
}
