import type { Connection, Pool, PoolConnection } from 'mysql2/promise';
import {
  type GtidFlavor,
  mariaDomainsBehind,
  mysqlSetHas,
  mysqlSetSize,
  mysqlSetSizeUpTo,
  mysqlSubset,
  parseMariaPos,
  parseMysqlSet,
} from './gtid.ts';

/**
 * The binlog source: everything that differs between Oracle MySQL and MariaDB about positions lives
 * here (docs/producer.md "Positions and versions").
 *
 * A position is the source's GTID state — a MySQL GTID set (`uuid:1-42,uuid2:tag:1-3`) or a MariaDB
 * GTID position (`0-1-42`, one entry per domain) — plus binlog file/pos where they are known. Its
 * *sequence* is one integer that grows with every transaction and keeps growing across a change of
 * primary, so a row version stays a single comparable number (the Redis version guard and the cache
 * layout need nothing else):
 * - MySQL: how many transactions the GTID set holds. A replica promoted with GTID auto-position holds
 *   every GTID of the old primary and adds its own, so the count continues where the old one stopped,
 *   whatever the new server UUID.
 * - MariaDB: the sequence number of the (one) GTID domain; under gtid_strict_mode a promoted replica
 *   continues the domain's numbering, whichever server_id writes.
 */
export type Flavor = GtidFlavor;

type Queryable = Pool | PoolConnection | Connection;
type Row = Record<string, unknown>;

export function flavorOfVersion(version: string): Flavor {
  return /mariadb/i.test(version) ? 'mariadb' : 'mysql';
}

/** Keyed by the driver's connection (a pool is one server too): asked once per connection. */
const flavors = new WeakMap<object, Flavor>();

function cacheKey(db: Queryable): object {
  return (db as unknown as { connection?: object }).connection ?? db;
}

async function rows(db: Queryable, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [result] = await db.query(sql, params);
  return result as Row[];
}

export async function detectFlavor(db: Queryable): Promise<Flavor> {
  const key = cacheKey(db);
  const known = flavors.get(key);
  if (known) return known;
  const [v] = await rows(db, 'SELECT VERSION() AS v');
  const flavor = flavorOfVersion(String(v?.v ?? ''));
  flavors.set(key, flavor);
  return flavor;
}

/** The variable holding the source's GTID state (readable without any privilege). */
export const gtidStateVariable = (flavor: Flavor) =>
  flavor === 'mariadb' ? '@@global.gtid_binlog_pos' : '@@global.gtid_executed';

const normalise = (text: unknown) => String(text ?? '').replace(/\s+/g, '');

/** Sequence of a GTID state (see the module comment); 0 before the first transaction. */
export function sequenceOfState(flavor: Flavor, state: string | null): bigint {
  if (!state) return 0n;
  if (flavor === 'mysql') return mysqlSetSize(parseMysqlSet(state));
  const domains = parseMariaPos(state);
  if (domains.size > 1)
    throw new Error(
      `more than one GTID domain in the binlog (${state}); one is supported: give every primary the same gtid_domain_id`,
    );
  return [...domains.values()][0] ?? 0n;
}

/**
 * Sequence of the transaction `gtid` given the GTID state `before` it (MySQL: the set's size with it
 * added; MariaDB: its own sequence number).
 */
export function sequenceAfter(flavor: Flavor, before: string | null, gtid: string): bigint {
  if (flavor === 'mariadb') return sequenceOfState('mariadb', gtid);
  const set = parseMysqlSet(before ?? '');
  return mysqlSetSize(set) + (mysqlSetHas(set, gtid) ? 0n : 1n);
}

/** The flavor a GTID (or GTID state) is written in: MariaDB `d-s-n[,...]`, else a MySQL set. */
export function flavorOfGtid(gtid: string): Flavor {
  return /^\d+-\d+-\d+(,\d+-\d+-\d+)*$/.test(gtid.replace(/\s+/g, '')) ? 'mariadb' : 'mysql';
}

/** Whether `text` is a GTID state of either flavor (a MariaDB position or a MySQL GTID set). */
export function isGtidState(text: string): boolean {
  try {
    if (flavorOfGtid(text) === 'mariadb') parseMariaPos(text);
    else if (parseMysqlSet(text).size === 0) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * Sequence of the next transaction of a binlog stream (`gtid`), given the previous one's (`last`) or,
 * for the first, the stream's GTID state before it (`before()`, undefined when unknown). MariaDB's is
 * in the GTID itself; MySQL's counts on by one (a binlog holds each GTID once).
 */
export function nextStreamSequence(
  last: bigint | null,
  gtid: string | null,
  before: () => string | undefined,
): bigint | null {
  if (!gtid) return null;
  if (flavorOfGtid(gtid) === 'mariadb') return sequenceAfter('mariadb', null, gtid);
  if (last !== null) return last + 1n;
  const state = before();
  return state === undefined ? null : sequenceAfter('mysql', state, gtid);
}

/**
 * A MariaDB GTID state after transaction `gtid` (its domain's entry replaced), for streams zongji
 * could not seed; MySQL sets cannot be advanced without the set (null stays null).
 */
export function advanceState(state: string | null, gtid: string | null): string | null {
  if (!gtid || flavorOfGtid(gtid) !== 'mariadb') return state;
  const domain = gtid.split('-')[0];
  const entries = (state ?? '').split(',').filter((e) => e !== '' && !e.startsWith(`${domain}-`));
  entries.push(gtid);
  return entries.sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0])).join(',');
}

/** Whether GTID state `a` holds every transaction of `b` (same flavor); false when either is unreadable. */
export function stateCovers(flavor: Flavor, a: string, b: string): boolean {
  try {
    return flavor === 'mariadb'
      ? mariaDomainsBehind(parseMariaPos(a), parseMariaPos(b)).length === 0
      : mysqlSubset(parseMysqlSet(b), parseMysqlSet(a));
  } catch {
    return false;
  }
}

/**
 * The GTID state at a binlog event boundary, where the server can say (MariaDB's BINLOG_GTID_POS);
 * null on MySQL, which resumes such a position by file/pos.
 */
export async function stateAt(db: Queryable, file: string, pos: number): Promise<string | null> {
  if ((await detectFlavor(db)) !== 'mariadb') return null;
  const [r] = await rows(db, 'SELECT BINLOG_GTID_POS(?, ?) AS g', [file, pos]);
  return normalise(r?.g) || null;
}

/**
 * The GTID state no longer readable from the binlogs: MariaDB's state at the start of the oldest
 * file (BINLOG_GTID_POS(oldest, 4)), MySQL's @@gtid_purged.
 */
export async function purgedState(db: Queryable, oldestFile: string): Promise<string> {
  if ((await detectFlavor(db)) === 'mariadb') {
    const [r] = await rows(db, 'SELECT BINLOG_GTID_POS(?, 4) AS g', [oldestFile]);
    return normalise(r?.g);
  }
  const [r] = await rows(db, 'SELECT @@global.gtid_purged AS g');
  return normalise(r?.g);
}

export type SourceState = { flavor: Flavor; gtid: string | null; sequence: bigint };

/** The source's GTID state and its sequence, now. The one place that reads "where the source is". */
export async function readSourceState(db: Queryable): Promise<SourceState> {
  const flavor = await detectFlavor(db);
  const [r] = await rows(db, `SELECT ${gtidStateVariable(flavor)} AS g`);
  const gtid = normalise(r?.g) || null;
  return { flavor, gtid, sequence: sequenceOfState(flavor, gtid) };
}

export type SourcePosition = SourceState & { file: string; pos: number };

/**
 * GTID state with the binlog coordinates it belongs to (needs REPLICATION CLIENT / BINLOG MONITOR).
 * MySQL reports both in one statement (SHOW BINARY LOG STATUS from 8.2, SHOW MASTER STATUS before).
 */
export async function readSourcePosition(db: Queryable): Promise<SourcePosition> {
  const flavor = await detectFlavor(db);
  const status =
    flavor === 'mariadb'
      ? await rows(db, 'SHOW MASTER STATUS')
      : await rows(db, 'SHOW BINARY LOG STATUS').catch(() => rows(db, 'SHOW MASTER STATUS'));
  const s = status[0];
  if (!s) throw new Error('the source reports no binary log status: is log_bin enabled?');
  let gtid: string | null;
  if (flavor === 'mysql') gtid = normalise(s.Executed_Gtid_Set) || null;
  else gtid = normalise((await rows(db, `SELECT ${gtidStateVariable(flavor)} AS g`))[0]?.g) || null;
  return {
    flavor,
    gtid,
    sequence: sequenceOfState(flavor, gtid),
    file: String(s.File),
    pos: Number(s.Position),
  };
}

/**
 * Opens a consistent, read-only snapshot on `conn` and says which position it holds: every
 * transaction of the returned state is in the snapshot, so streaming from that state loses nothing.
 * - MariaDB reports the snapshot's own binlog position (binlog_snapshot_file/position).
 * - MySQL does not: the state is read *before* the view opens. InnoDB commits a transaction before
 *   its GTID enters gtid_executed, so each GTID of that state is visible to the view; a transaction
 *   committed in between is in the view as well as streamed again after it (at a higher version,
 *   which the version guard applies idempotently) — never in the state but missing from the view.
 * `coordinates` also returns binlog file/pos (needs REPLICATION CLIENT on MySQL).
 */
export async function openConsistentSnapshot(
  conn: PoolConnection | Connection,
  opts: { coordinates?: boolean } = {},
): Promise<SourcePosition> {
  const flavor = await detectFlavor(conn);
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  if (flavor === 'mysql') {
    const before = opts.coordinates
      ? await readSourcePosition(conn)
      : { ...(await readSourceState(conn)), file: '', pos: 0 };
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    return before;
  }
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  const status = await rows(conn, "SHOW STATUS LIKE 'binlog_snapshot_%'");
  const s = new Map(status.map((r) => [String(r.Variable_name), String(r.Value)]));
  const file = s.get('Binlog_snapshot_file') ?? '';
  const pos = Number(s.get('Binlog_snapshot_position') ?? 0);
  if (!file || pos < 4) throw new Error('MariaDB reports no binlog snapshot position: is log_bin enabled?');
  const [g] = await rows(conn, 'SELECT BINLOG_GTID_POS(?, ?) AS g', [file, pos]);
  const gtid = normalise(g?.g) || null;
  return { flavor, gtid, sequence: sequenceOfState(flavor, gtid), file, pos };
}

/** Connections already asked to report their own GTIDs on commit (MySQL). */
const tracking = new WeakSet<object>();

/**
 * Call before a transaction whose commit position is wanted (commitWithPosition): MySQL reports a
 * session's own GTID only when asked to (session_track_gtids), MariaDB always (@@last_gtid).
 */
export async function trackOwnCommits(conn: PoolConnection | Connection): Promise<void> {
  if ((await detectFlavor(conn)) === 'mariadb') return;
  const key = cacheKey(conn);
  if (tracking.has(key)) return;
  await conn.query('SET SESSION session_track_gtids = OWN_GTID');
  tracking.add(key);
}

/**
 * Commits and returns the commit's own GTID and sequence (null when the server wrote no binlog
 * event, e.g. a transaction that changed nothing). MySQL: the GTID the server reports with the OK of
 * COMMIT, its sequence counted in gtid_executed up to it (a single writing primary: every other
 * source's GTIDs are older).
 */
export async function commitWithPosition(
  conn: PoolConnection | Connection,
): Promise<{ gtid: string; sequence: bigint } | null> {
  const flavor = await detectFlavor(conn);
  const [ok] = await conn.query('COMMIT');
  if (flavor === 'mariadb') {
    const [r] = await rows(conn, 'SELECT @@last_gtid AS g');
    const gtid = normalise(r?.g);
    return gtid ? { gtid, sequence: sequenceOfState('mariadb', gtid) } : null;
  }
  const own = (ok as { stateChanges?: { gtids?: string[] } }).stateChanges?.gtids?.[0];
  if (!own) return null;
  const gtid = own.trim();
  const [r] = await rows(conn, 'SELECT @@global.gtid_executed AS g');
  return { gtid, sequence: mysqlSetSizeUpTo(parseMysqlSet(normalise(r?.g)), gtid) };
}

/** The server variables captureProblems reads (SHOW GLOBAL VARIABLES). */
export const CAPTURE_VARIABLES = [
  'version',
  'server_id',
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'binlog_row_metadata',
  'gtid_mode',
  'enforce_gtid_consistency',
  'binlog_transaction_compression',
  'binlog_row_value_options',
] as const;

/** The global privileges the replication user needs, per flavor (MariaDB 10.5+ names). */
const CAPTURE_GRANTS: Record<Flavor, Array<{ any: string[]; grant: string; why: string }>> = {
  mysql: [
    { any: ['REPLICATION SLAVE'], grant: 'REPLICATION SLAVE', why: 'to read the binlog stream' },
    {
      any: ['REPLICATION CLIENT'],
      grant: 'REPLICATION CLIENT',
      why: 'for SHOW BINARY LOGS / BINARY LOG STATUS',
    },
  ],
  mariadb: [
    { any: ['REPLICATION SLAVE'], grant: 'REPLICATION SLAVE', why: 'to read the binlog stream' },
    {
      any: ['BINLOG MONITOR', 'REPLICATION CLIENT'],
      grant: 'BINLOG MONITOR',
      why: 'for SHOW BINARY LOGS / MASTER STATUS',
    },
  ],
};

/**
 * What keeps a server from being captured losslessly, each with the setting or grant to change:
 * `vars` from SHOW GLOBAL VARIABLES (CAPTURE_VARIABLES), `privileges` the user's global privileges
 * (information_schema.USER_PRIVILEGES).
 */
export function captureProblems(
  flavor: Flavor,
  vars: ReadonlyMap<string, string>,
  privileges: readonly string[],
): string[] {
  const problems: string[] = [];
  const want = (name: string, expected: string, remedy: string) => {
    const actual = vars.get(name);
    if (actual?.toUpperCase() !== expected) problems.push(`${name} is ${actual ?? 'unset'}; ${remedy}`);
  };
  want('log_bin', 'ON', 'enable the binary log (log_bin)');
  want('binlog_format', 'ROW', 'set binlog_format=ROW');
  want(
    'binlog_row_image',
    'FULL',
    'set binlog_row_image=FULL (before images are needed for updates and deletes)',
  );
  want(
    'binlog_row_metadata',
    'FULL',
    'set binlog_row_metadata=FULL (column names and types travel with every row)',
  );
  if (flavor === 'mysql') {
    want(
      'gtid_mode',
      'ON',
      'set gtid_mode=ON and enforce_gtid_consistency=ON (versions and resumes need GTIDs)',
    );
    want('enforce_gtid_consistency', 'ON', 'set enforce_gtid_consistency=ON');
    if (vars.get('binlog_transaction_compression')?.toUpperCase() === 'ON') {
      problems.push(
        'binlog_transaction_compression is ON; compressed transactions cannot be decoded: set it OFF',
      );
    }
    if (vars.get('binlog_row_value_options')?.toUpperCase() === 'PARTIAL_JSON') {
      problems.push(
        'binlog_row_value_options is PARTIAL_JSON; partial JSON updates cannot be decoded: unset it',
      );
    }
  }
  const held = new Set(privileges.map((p) => p.toUpperCase()));
  for (const g of CAPTURE_GRANTS[flavor]) {
    if (!g.any.some((p) => held.has(p)))
      problems.push(`the replication user lacks ${g.grant} (${g.why}): GRANT ${g.grant} ON *.* TO the user`);
  }
  return problems;
}
