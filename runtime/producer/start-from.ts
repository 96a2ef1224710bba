import { isGtidState } from '../core/binlog/source.ts';

/** Where the producer starts reading when there is no checkpoint yet. */
export type StartFrom =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  /** First transaction whose binlog timestamp is at or after this instant. */
  | { kind: 'timestamp'; atMs: number }
  | { kind: 'position'; file: string; pos: number }
  /** A GTID position/set: streaming resumes after the transactions it covers. */
  | { kind: 'gtid'; gtidSet: string };

/**
 * Parses START_FROM: `earliest` | `latest` | `timestamp:<ISO-8601 or epoch ms>` |
 * `position:<file>:<pos>` | `gtid:<set>`. Returns an error message for anything else.
 */
export function parseStartFrom(raw: string): StartFrom | string {
  if (raw === 'earliest' || raw === 'latest') return { kind: raw };
  const sep = raw.indexOf(':');
  const kind = sep < 0 ? raw : raw.slice(0, sep);
  const rest = sep < 0 ? '' : raw.slice(sep + 1);
  switch (kind) {
    case 'timestamp': {
      const atMs = /^\d+$/.test(rest) ? Number(rest) : Date.parse(rest);
      if (!Number.isFinite(atMs) || rest === '')
        return `timestamp must be ISO-8601 or epoch milliseconds, got ${JSON.stringify(rest)}`;
      return { kind: 'timestamp', atMs };
    }
    case 'position': {
      const m = /^([A-Za-z0-9._-]+):(\d+)$/.exec(rest);
      if (!m?.[1] || !m[2]) return `position must be <binlog file>:<offset>, got ${JSON.stringify(rest)}`;
      const pos = Number(m[2]);
      if (pos < 4) return 'position offset must be at least 4 (the binlog header)';
      return { kind: 'position', file: m[1], pos };
    }
    case 'gtid': {
      if (!isGtidState(rest)) {
        return `gtid must be a MariaDB GTID position (0-1-42[,...]) or a MySQL GTID set, got ${JSON.stringify(rest)}`;
      }
      return { kind: 'gtid', gtidSet: rest };
    }
    default:
      return `START_FROM must be earliest, latest, timestamp:<when>, position:<file>:<pos> or gtid:<set>, got ${JSON.stringify(raw)}`;
  }
}

export function formatStartFrom(s: StartFrom): string {
  switch (s.kind) {
    case 'earliest':
    case 'latest':
      return s.kind;
    case 'timestamp':
      return `timestamp:${new Date(s.atMs).toISOString()}`;
    case 'position':
      return `position:${s.file}:${s.pos}`;
    case 'gtid':
      return `gtid:${s.gtidSet}`;
  }
}
