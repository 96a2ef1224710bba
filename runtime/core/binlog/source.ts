import type { Connection, Pool, PoolConnection } from 'mysql2/promise';
import {
  type GtidFlavor,
  mysqlSetHas,
  mysqlSetSize,
  mysqlSetSizeUpTo,
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
