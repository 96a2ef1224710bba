/**
 * Source positions and row versions.
 *
 * A version orders every change of one row: it is built from the GTID sequence number of the
 * transaction (monotonic within a GTID domain under gtid_strict_mode) and the row's index inside
 * that transaction. Fixed-width decimal strings compare correctly as plain strings, which is what the
 * Redis Lua scripts do. One GTID domain per pipeline is assumed (one primary writes the data).
 */
export type BinlogPosition = {
  /** e.g. MariaDB "0-1-42" or MySQL "3E11FA47-71CA-11E1-9E33-C80AA9429562:42" */
  gtid: string | null;
  file: string;
  pos: number;
};

const SEQ_WIDTH = 20; // fits 2^64
const ROW_WIDTH = 10;

/** Transaction sequence number of a GTID, as a bigint. MariaDB domain-server-seq or MySQL uuid:n. */
export function gtidSequence(gtid: string): bigint {
  const maria = /^(\d+)-(\d+)-(\d+)$/.exec(gtid);
  if (maria?.[3] !== undefined) return BigInt(maria[3]);
  const mysql = /^[0-9a-fA-F-]{36}(?::[A-Za-z_][A-Za-z0-9_]{0,31})?:(\d+)$/.exec(gtid);
  if (mysql?.[1] !== undefined) return BigInt(mysql[1]);
  throw new Error(`unrecognised GTID: ${JSON.stringify(gtid)}`);
}

export function versionOf(seq: bigint, rowIndex: number): string {
  if (seq < 0n) throw new Error('sequence must be non-negative');
  if (!Number.isInteger(rowIndex) || rowIndex < 0 || rowIndex >= 10 ** ROW_WIDTH) {
    throw new Error(`row index out of range: ${rowIndex}`);
  }
  return `${seq.toString().padStart(SEQ_WIDTH, '0')}.${rowIndex.toString().padStart(ROW_WIDTH, '0')}`;
}

export function versionOfGtid(gtid: string, rowIndex: number): string {
  return versionOf(gtidSequence(gtid), rowIndex);
}

/** Lowest version any change of transaction `seq` can have: "caught up to seq" means version >= this. */
export function transactionFloor(seq: bigint): string {
  return versionOf(seq, 0);
}

export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const VERSION_PATTERN = /^\d{20}\.\d{10}$/;

/**
 * Consistency token returned by writes: the commit's GTID and the rows it changed. A read that passes
 * it is served from Redis only if every one of those rows carries a version at or after the commit.
 * This is the payload only: the api signs it for the writing user (runtime/api/consistency-token.ts)
 * and never takes an unsigned one.
 */
export type ConsistencyToken = {
  gtid: string;
  /** The commit's source sequence (runtime/core/binlog/source.ts); absent in older tokens. */
  sequence?: string;
  rows: string[];
};

export function encodeToken(token: ConsistencyToken): string {
  const payload = {
    g: token.gtid,
    ...(token.sequence !== undefined ? { s: token.sequence } : {}),
    r: token.rows,
  };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** The sequence a token's rows must have reached: its own, or (older tokens) its GTID's. */
export function tokenSequence(token: ConsistencyToken): bigint {
  return token.sequence !== undefined ? BigInt(token.sequence) : gtidSequence(token.gtid);
}

/** Returns null for anything that is not a well-formed token (callers answer 400). */
export function decodeToken(raw: string): ConsistencyToken | null {
  if (raw.length === 0 || raw.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { g, s, r } = parsed as { g?: unknown; s?: unknown; r?: unknown };
    if (typeof g !== 'string' || !Array.isArray(r) || r.length > 32) return null;
    if (s !== undefined && (typeof s !== 'string' || !/^\d{1,20}$/.test(s))) return null;
    if (!r.every((x): x is string => typeof x === 'string' && /^[a-z_]+:[A-Za-z0-9_-]{1,64}$/.test(x))) {
      return null;
    }
    gtidSequence(g);
    return { gtid: g, ...(typeof s === 'string' ? { sequence: s } : {}), rows: r };
  } catch {
    return null;
  }
}
