import ZongJi, { type AnyBinlogEvent, type BinlogEventByName, type BinlogEventName } from '@vlasky/zongji';
import { binlogTraits } from '../../core/binlog/server.ts';
import { flavorOfVersion, nextStreamSequence } from '../../core/binlog/source.ts';
import { mysqlClientOptions } from '../../core/db/pool.ts';
import type { Logger } from '../../core/logger.ts';
import {
  COLUMN_FACTS_SQL,
  type ColumnFacts,
  characterIndexes,
  charsetsMisread,
  fixCharsets,
  logicalTypes,
  needsFacts,
  parseFacts,
  type ZongjiTable,
} from './column-facts.ts';
import { takeOver } from './raw-columns.ts';
import { type ColumnConverter, converterFor, convertRow } from './values.ts';

export type Row = Record<string, unknown>;

/** One row change, with the coordinates of the transaction it belongs to. */
export type RowChange = {
  db: string;
  table: string;
  op: 'c' | 'u' | 'd';
  before: Row | null;
  after: Row | null;
  /** Primary key column names in key order; empty for tables without one. */
  primaryKey: string[];
  gtid: string | null;
  /** The transaction's source sequence (runtime/core/binlog/source.ts); null when it is unknown. */
  sequence: bigint | null;
  /** Binlog file and position where the transaction starts (its GTID event). */
  file: string;
  pos: number;
  /** Index of this row change within its transaction (captured tables only), from 0. */
  row: number;
  /** Binlog timestamp of the transaction, ms (second resolution on the server). */
  tsMs: number;
};

/** A transaction's commit: everything up to and including it is covered by `gtidSet`. */
export type Commit = {
  gtid: string | null;
  /** Executed GTIDs after this commit (MariaDB position or MySQL set); null when unknown. */
  gtidSet: string | null;
  /** Coordinates right after the commit event. */
  file: string;
  pos: number;
  tsMs: number;
};

export type ReaderStart = {
  gtidSet?: string;
  file?: string;
  pos?: number;
  atEnd?: boolean;
  /** Skip the first `rows` row changes of transaction `gtid` (already published before a restart). */
  skip?: { gtid: string; rows: number } | null;
  /** Skip transactions whose binlog timestamp is before this instant. */
  notBeforeMs?: number;
};

export type ReaderHandlers = {
  onChange: (change: RowChange) => void;
  onCommit: (commit: Commit) => void;
  /** The stream broke (connection lost, purged position, ...); the reader is stopped. */
  onError: (err: Error) => void;
};

export type ReaderOptions = {
  mysqlUrl: string;
  serverId: number;
  databases: string[];
  /** Final say on a table after the schema filter (table filters, including db.table forms). */
  tableSelected: (db: string, table: string) => boolean;
  ops: ReadonlyArray<'c' | 'u' | 'd'>;
  log: Logger;
};

const EVENTS: BinlogEventName[] = [
  'rotate',
  'gtid',
  'mariadbgtid',
  'xid',
  'query',
  'tablemap',
  'writerows',
  'updaterows',
  'deleterows',
];

function is<N extends BinlogEventName>(e: AnyBinlogEvent, name: N): e is BinlogEventByName<N> {
  return e.getEventName() === name;
}

type TableInfo = { converters: Map<string, ColumnConverter>; primaryKey: string[] };

/**
 * Whether zongji decoded this TableMap from its own FULL metadata (see zongji's index.js): not when
 * the server's flavor makes its temporal type codes ambiguous (core/binlog/server.ts).
 */
function selfDescribing(e: AnyBinlogEvent, zongji: ZongJi): boolean {
  const t = e as unknown as {
    hasSelfDescribingMetadata?: () => boolean;
    hasAmbiguousTemporalColumns?: () => boolean;
  };
  // zongji reads the server's VERSION() before it streams anything.
  const flavor = flavorOfVersion((zongji as unknown as { serverVersion?: string }).serverVersion ?? '');
  return (
    t.hasSelfDescribingMetadata?.() === true &&
    !(binlogTraits(flavor).temporalCodesAmbiguous && t.hasAmbiguousTemporalColumns?.() === true)
  );
}

/**
 * The binlog as a stream of row changes and commits, on top of zongji (which decodes MariaDB GTID
 * events natively since 0.9). Column names and types come from the binlog's own TableMap metadata
 * (binlog_row_metadata=FULL), so DDL while streaming needs no schema queries.
 */
export class BinlogReader {
  private readonly opts: ReaderOptions;
  private zongji: ZongJi | undefined;
  private file = '';
  private txn: {
    gtid: string | null;
    sequence: bigint | null;
    pos: number;
    tsMs: number;
    rows: number;
    skipped: boolean;
  } | null = null;
  /** Sequence of the last transaction read (MySQL: counted on from zongji's seeded GTID set). */
  private sequence: bigint | null = null;
  private readonly tables = new Map<number, TableInfo & { key: string }>();
  /** information_schema facts of a table's columns, per table id (a DDL gives a new id). */
  private readonly facts = new Map<number, ColumnFacts>();
  private paused = false;
  /** Reasons the binlog connection is held (back-pressure, a schema lookup); read while empty. */
  private readonly holds = new Set<string>();

  constructor(opts: ReaderOptions) {
    this.opts = opts;
  }

  /** Starts streaming; resolves once the dump is running. */
  start(from: ReaderStart, handlers: ReaderHandlers): Promise<void> {
    const zongji = new ZongJi({
      ...mysqlClientOptions(this.opts.mysqlUrl),
      charset: 'utf8mb4_unicode_ci',
      dateStrings: true,
      timezone: 'Z',
      jsonStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
    } as never);
    this.zongji = zongji;
    this.file = from.file ?? '';
    this.txn = null;
    this.sequence = null;
    this.paused = false;
    this.holds.clear();
    this.facts.clear();
    const skip = from.skip ?? null;
    const ops = new Set(this.opts.ops);
    let failed = false;

    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      this.stop();
      handlers.onError(err instanceof Error ? err : new Error(String(err)));
    };

    const emitRows = (
      e: AnyBinlogEvent,
      op: 'c' | 'u' | 'd',
      rows: Array<{ before: Row | null; after: Row | null }>,
    ) => {
      const tableId = (e as { tableId: number }).tableId;
      const info = this.tables.get(tableId);
      const txn = this.txn;
      if (!info || !txn) return;
      const [db, table] = info.key.split('\u0000') as [string, string];
      for (const r of rows) {
        const row = txn.rows++;
        if (txn.skipped || !ops.has(op)) continue;
        if (skip && skip.gtid === txn.gtid && row < skip.rows) continue;
        handlers.onChange({
          db,
          table,
          op,
          before: r.before ? convertRow(r.before, info.converters) : null,
          after: r.after ? convertRow(r.after, info.converters) : null,
          primaryKey: info.primaryKey,
          gtid: txn.gtid,
          sequence: txn.sequence,
          file: this.file,
          pos: txn.pos,
          row,
          tsMs: txn.tsMs,
        });
      }
    };

    const beginTxn = (gtid: string | null, e: AnyBinlogEvent) => {
      const tsMs = e.timestamp;
      // MySQL's count starts from zongji's executed set before this transaction (seeded exactly from
      // the start set, the server's set or the file's Previous_gtids; unknown mid-file).
      this.sequence = nextStreamSequence(this.sequence, gtid, () => zongji.gtidSet);
      this.txn = {
        gtid,
        sequence: this.sequence,
        pos: e.nextPosition - e.size,
        tsMs,
        rows: 0,
        skipped: from.notBeforeMs !== undefined && tsMs < from.notBeforeMs,
      };
    };

    const commit = (e: AnyBinlogEvent) => {
      const txn = this.txn;
      this.txn = null;
      handlers.onCommit({
        gtid: txn?.gtid ?? e.gtid ?? null,
        gtidSet: zongji.gtidSet ?? null,
        file: this.file,
        pos: e.nextPosition,
        tsMs: txn?.tsMs ?? e.timestamp,
      });
    };

    zongji.on('binlog', (e: AnyBinlogEvent) => {
      try {
        if (is(e, 'rotate')) {
          this.file = e.binlogName;
        } else if (is(e, 'mariadbgtid') || is(e, 'gtid')) {
          beginTxn(e.gtid, e);
        } else if (is(e, 'tablemap')) {
          if (!this.opts.tableSelected(e.schemaName, e.tableName)) {
            this.tables.delete(e.tableId);
            return;
          }
          const entry = (e.tableMap[e.tableId] ?? { columns: [] }) as unknown as ZongjiTable;
          const columns = entry.columns;
          const names = e.columnNames ?? columns.map((c) => c.name);
          const primaryKey = (e.primaryKey ?? [])
            .map((i) => names[i])
            .filter((n): n is string => n !== undefined);
          const key = `${e.schemaName}\u0000${e.tableName}`;
          // Taken before the take-over below rewrites types; zongji decodes this TableMap's rows with
          // the descriptors as they are when the stream next reads (now, or after the facts' lookup).
          const misread = charsetsMisread(entry);
          const charIdx = misread ? characterIndexes(entry) : [];
          // Descriptors zongji built from information_schema itself (no FULL metadata, or MariaDB
          // 5.3-era temporal codes) already have the right charsets and name UUID/INET.
          const fromTableMap = selfDescribing(e, zongji);
          const wanted = fromTableMap && needsFacts(entry);
          const register = (facts: ColumnFacts | undefined) => {
            if (facts && misread) fixCharsets(entry, charIdx, facts);
            const logical = facts ? logicalTypes(entry, facts) : new Map();
            const converters = new Map<string, ColumnConverter>();
            for (const c of columns) {
              const raw = takeOver(c);
              converters.set(
                c.name,
                raw ? (v) => (Buffer.isBuffer(v) ? raw(v) : null) : converterFor(c.type, logical.get(c.name)),
              );
            }
            this.tables.set(e.tableId, { key, converters, primaryKey });
          };
          const known = this.facts.get(e.tableId);
          if (!wanted || known) {
            register(known);
            return;
          }
          // Rows of this table follow at once: hold the stream (their packets wait unparsed) until
          // the facts are in and the descriptors corrected.
          this.hold('schema');
          this.lookupFacts(zongji, e.schemaName, e.tableName, (err, facts) => {
            if (this.zongji !== zongji) return; // stopped meanwhile
            if (err || !facts) {
              fail(err ?? new Error('no column facts'));
              return;
            }
            if (facts.size === 0)
              this.opts.log.warn(
                { db: e.schemaName, table: e.tableName },
                'no information_schema columns visible for this table: UUID/INET stay bytes, charsets after GEOMETRY uncorrected',
              );
            this.facts.set(e.tableId, facts);
            register(facts);
            this.release('schema');
          });
        } else if (is(e, 'writerows')) {
          emitRows(
            e,
            'c',
            e.rows.map((after) => ({ before: null, after })),
          );
        } else if (is(e, 'updaterows')) {
          emitRows(e, 'u', e.rows);
        } else if (is(e, 'deleterows')) {
          emitRows(
            e,
            'd',
            e.rows.map((before) => ({ before, after: null })),
          );
        } else if (is(e, 'xid')) {
          commit(e);
        } else if (is(e, 'query')) {
          const q = e.query.trim().toUpperCase();
          if (q === 'COMMIT' || q === 'ROLLBACK') commit(e);
        }
      } catch (err) {
        fail(err);
      }
    });

    return new Promise<void>((resolve, reject) => {
      let ready = false;
      zongji.on('ready', () => {
        ready = true;
        if (!this.file && typeof zongji.options.filename === 'string') this.file = zongji.options.filename;
        resolve();
      });
      zongji.on('error', (err: unknown) => {
        if (!ready) {
          failed = true;
          this.stop();
          reject(err);
          return;
        }
        fail(err);
      });
      const includeSchema: Record<string, true> = {};
      for (const db of this.opts.databases) includeSchema[db] = true;
      zongji.start({
        serverId: this.opts.serverId,
        includeEvents: EVENTS,
        includeSchema,
        ...(from.gtidSet !== undefined
          ? { gtidSet: from.gtidSet }
          : from.file
            ? { filename: from.file, position: from.pos ?? 4 }
            : { startAtEnd: from.atEnd ?? true }),
      });
    });
  }

  /** Stops reading from the socket (TCP back-pressure on the server) until resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.hold('backpressure');
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.release('backpressure');
  }

  private hold(reason: string): void {
    const first = this.holds.size === 0;
    this.holds.add(reason);
    if (first) this.zongji?.connection?.pause();
  }

  private release(reason: string): void {
    if (!this.holds.delete(reason) || this.holds.size > 0) return;
    this.zongji?.connection?.resume();
  }

  private lookupFacts(
    zongji: ZongJi,
    db: string,
    table: string,
    done: (err: Error | null, facts?: ColumnFacts) => void,
  ): void {
    const conn = zongji.ctrlConnection;
    if (!conn) {
      done(new Error(`no control connection to read the columns of ${db}.${table}`));
      return;
    }
    conn.query(COLUMN_FACTS_SQL, [db, table], (err: Error | null, rows: unknown) => {
      if (err) {
        done(err);
        return;
      }
      done(null, parseFacts(rows as Array<{ name: unknown; dataType: unknown; charset: unknown }>));
    });
  }

  get isPaused(): boolean {
    return this.paused;
  }

  stop(): void {
    const z = this.zongji;
    this.zongji = undefined;
    if (z && !z.stopped) z.stop();
  }
}
