import type { Pool } from '../db/pool.ts';
import type { GtidFlavor } from './gtid.ts';
import { purgedState, readSourcePosition } from './source.ts';

export type BinlogFile = { name: string; size: number };

/** What the source server says about its binary logs, read in one go. */
export type ServerBinlogState = {
  flavor: GtidFlavor;
  /** Binary logs still on the server, oldest first. */
  files: BinlogFile[];
  /** Where the next event will be written. */
  head: { file: string; pos: number };
  /** Everything written so far (MariaDB @@gtid_binlog_pos, MySQL @@gtid_executed). */
  gtidExecuted: string;
  /**
   * Everything no longer readable from the binlogs: MariaDB's GTID state at the start of the oldest
   * file (BINLOG_GTID_POS(oldest, 4)), MySQL's @@gtid_purged.
   */
  gtidPurged: string;
  /** Server clock, so "seconds behind" never mixes the operator's clock with the source's. */
  nowMs: number;
};

/** What a flavor's binlog cannot tell by itself, so a decoder must ask the table definition instead. */
export type BinlogTraits = {
  /**
   * TIMESTAMP / TIME / DATETIME type codes in a TableMap may hide MariaDB's 5.3-era "hires" columns
   * (other byte order and width, same zero metadata, FULL row metadata included): a table with such
   * columns must be decoded from information_schema, not from its TableMap.
   */
  temporalCodesAmbiguous: boolean;
};

const TRAITS: Record<GtidFlavor, BinlogTraits> = {
  mariadb: { temporalCodesAmbiguous: true },
  mysql: { temporalCodesAmbiguous: false },
};

export const binlogTraits = (flavor: GtidFlavor): BinlogTraits => TRAITS[flavor];

type Row = Record<string, unknown>;

async function rows(pool: Pool, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [result] = await pool.query(sql, params);
  return result as Row[];
}

/**
 * Reads the server's binlog inventory. Needs REPLICATION CLIENT (MySQL) / BINLOG MONITOR (MariaDB),
 * which the CDC user has. Works on MariaDB and on MySQL 8 (SHOW BINARY LOG STATUS from 8.2 on).
 */
export async function readServerBinlogState(pool: Pool): Promise<ServerBinlogState> {
  const [clock] = await rows(pool, 'SELECT UNIX_TIMESTAMP(NOW(6)) * 1000 AS now_ms');
  const files = (await rows(pool, 'SHOW BINARY LOGS')).map((r) => ({
    name: String(r.Log_name),
    size: Number(r.File_size),
  }));
  if (files.length === 0)
    throw new Error('binary logging is off on the source server (SHOW BINARY LOGS is empty)');
  const position = await readSourcePosition(pool);
  const head = { file: position.file, pos: position.pos };
  const gtidPurged = await purgedState(pool, files[0]?.name ?? head.file);
  return {
    flavor: position.flavor,
    files,
    head,
    gtidExecuted: position.gtid ?? '',
    gtidPurged,
    nowMs: Math.round(Number(clock?.now_ms)),
  };
}

/** Whether an event starts at `file`:`pos` (a resume must not land inside an event). */
export async function isEventBoundary(pool: Pool, file: string, pos: number): Promise<boolean> {
  try {
    // Reading one event from `pos` fails with "Wrong offset" unless an event starts there (the head
    // itself is a boundary: it returns no rows).
    await pool.query(`SHOW BINLOG EVENTS IN ${pool.escape(file)} FROM ${Number(pos)} LIMIT 1`);
    return true;
  } catch (err) {
    if (/wrong offset/i.test((err as Error).message)) return false;
    throw err;
  }
}
