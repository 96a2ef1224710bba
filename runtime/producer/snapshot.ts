import type { Connection as CallbackConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import { openConsistentSnapshot, sequenceOfState } from '../core/binlog/source.ts';
import type { Checkpoint } from '../core/checkpoint/format.ts';
import { connectMysql } from '../core/db/pool.ts';
import { topicName } from '../core/events/envelope.ts';
import type { Logger } from '../core/logger.ts';
import { converterFor } from './binlog/values.ts';
import { envelope, keyOf, type SourceIdentity } from './change-events.ts';
import { type ProducerConfig, tableSelected } from './config.ts';
import type { ProducerMetrics } from './metrics.ts';
import type { Publisher } from './publisher.ts';

type TableRef = {
  db: string;
  table: string;
  primaryKey: string[];
  estimatedRows: number;
  /** FLOAT columns: the text protocol rounds them to 6 digits, so they are read widened to DOUBLE. */
  floats: string[];
  /** Every column in order, to build the select list when there are FLOAT columns. */
  columns: string[];
};

const FLOAT_TYPE_CODE = 4;

async function connect(url: string) {
  return connectMysql(url, {
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    dateStrings: true,
    jsonStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    // GEOMETRY as the server's bytes (SRID + WKB), as the binlog reader gets it; mysql2 would parse
    // it into point objects, losing the SRID and the geometry type.
    typeCast: (field, next) => (field.type === 'GEOMETRY' ? field.buffer() : next()),
  } as mysql.ConnectionOptions);
}

const q = (id: string) => `\`${id.replace(/`/g, '``')}\``;

async function listTables(conn: mysql.Connection, cfg: ProducerConfig): Promise<TableRef[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT t.TABLE_SCHEMA AS db, t.TABLE_NAME AS tbl, t.TABLE_ROWS AS est,
            GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR ',') AS pk
       FROM information_schema.TABLES t
       LEFT JOIN information_schema.KEY_COLUMN_USAGE k
         ON k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
      WHERE t.TABLE_SCHEMA IN (?) AND t.TABLE_TYPE = 'BASE TABLE'
      GROUP BY t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_ROWS
      ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME`,
    [cfg.databases],
  );
  // Columns in their own query: MySQL's JSON_ARRAYAGG takes no ORDER BY (MariaDB's does).
  const [cols] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS tbl, COLUMN_NAME AS name, DATA_TYPE AS type
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (?)
      ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
    [cfg.databases],
  );
  const columnsOf = new Map<string, Array<[string, string]>>();
  for (const c of cols) {
    const key = `${String(c.db)}\u0000${String(c.tbl)}`;
    const list = columnsOf.get(key) ?? [];
    list.push([String(c.name), String(c.type)]);
    columnsOf.set(key, list);
  }
  return rows
    .map((r) => {
      const cols = columnsOf.get(`${String(r.db)}\u0000${String(r.tbl)}`) ?? [];
      return {
        db: String(r.db),
        table: String(r.tbl),
        primaryKey: r.pk ? String(r.pk).split(',') : [],
        estimatedRows: Number(r.est ?? 0),
        floats: cols.filter(([, type]) => type.toLowerCase() === 'float').map(([name]) => name),
        columns: cols.map(([name]) => name),
      };
    })
    .filter((t) => tableSelected(cfg, t.db, t.table));
}

/**
 * Initial snapshot: every captured table read in primary-key chunks inside one consistent-snapshot
 * transaction, published as op `r` events. Progress is checkpointed per chunk; after a crash it
 * continues after the last published key (in a new consistent view: streaming still starts at the
 * first snapshot's position, so every change in between is replayed on top, in version order).
 * Returns the checkpoint streaming starts from.
 */
export async function runSnapshot(deps: {
  cfg: ProducerConfig;
  publisher: Publisher;
  src: SourceIdentity;
  log: Logger;
  metrics: ProducerMetrics;
  resume?: Checkpoint | null;
  /** Called once the consistent view is open, before any row is read (tests commit changes it cannot see). */
  onSnapshotOpen?: () => Promise<void>;
}): Promise<Checkpoint> {
  const { cfg, publisher, src, log, metrics } = deps;
  const conn = await connect(cfg.mysqlUrl);
  try {
    // The position every row of this view is at (exactly, or at most where the view is: see
    // openConsistentSnapshot). A resumed snapshot keeps its first position.
    const here = await openConsistentSnapshot(conn, { coordinates: true });
    await deps.onSnapshotOpen?.();
    const sequence = deps.resume?.snapshot ? sequenceOfState(here.flavor, deps.resume.gtid) : here.sequence;
    const base: Checkpoint = deps.resume?.snapshot
      ? deps.resume
      : {
          v: 1,
          gtid: here.gtid,
          file: here.file,
          pos: here.pos,
          partial: null,
          source_ts_ms: Date.now(),
          ts_ms: 0,
        };
    const state = base.snapshot ?? { done: [], table: null, after: null };
    const tables = await listTables(conn, cfg);
    log.info(
      {
        tables: tables.map((t) => `${t.db}.${t.table}`),
        gtid: base.gtid,
        resumed: Boolean(deps.resume?.snapshot),
      },
      'snapshot starting',
    );

    for (const t of tables) {
      const name = `${t.db}.${t.table}`;
      if (state.done.includes(name)) continue;
      const ctx = { conn, cfg, publisher, src, log, metrics, base, sequence, table: t };
      const done = [...state.done, name];
      if (t.primaryKey.length > 0) {
        await snapshotByKey(ctx, state.done, state.table === name ? state.after : null);
      } else {
        await snapshotWithoutKey(ctx, state.done);
      }
      // The table's last item: done, in a checkpoint of its own (its rows are already acknowledged).
      publisher.enqueue({ records: [], progress: { ...base, snapshot: { done, table: null, after: null } } });
      await publisher.flush();
      metrics.snapshotProgress.set({ db: t.db, table: t.table }, 1);
      state.done = done;
      state.table = null;
      state.after = null;
    }
    await conn.query('COMMIT');
    const end: Checkpoint = { ...base, snapshot: null };
    publisher.enqueue({ records: [], progress: end });
    await publisher.flush();
    log.info({ tables: tables.length, gtid: base.gtid }, 'snapshot complete: streaming from its position');
    return end;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

type TableContext = {
  conn: mysql.Connection;
  cfg: ProducerConfig;
  publisher: Publisher;
  src: SourceIdentity;
  log: Logger;
  metrics: ProducerMetrics;
  /** The snapshot's checkpoint (its position); each row's progress is this plus where the table is. */
  base: Checkpoint;
  /** Source sequence of that position: the version of every snapshot row. */
  sequence: bigint;
  table: TableRef;
};

/** The op `r` record of one snapshot row, with the exact value conversions of the binlog path. */
function snapshotRecord(
  ctx: TableContext,
  raw: Record<string, unknown>,
  converters: Map<string, (v: unknown) => unknown>,
  now: number,
) {
  const { table: t, base } = ctx;
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) row[k] = (converters.get(k) ?? converterFor(0))(v);
  return {
    row,
    record: {
      topic: topicName(ctx.cfg.topicPrefix, t.db, t.table),
      key: keyOf(t.primaryKey, row),
      value: JSON.stringify(
        envelope(
          ctx.src,
          {
            op: 'r',
            before: null,
            after: row,
            db: t.db,
            table: t.table,
            // A snapshot row belongs to no transaction: its position is the snapshot's (a whole GTID
            // state, in the checkpoint), its version that state's sequence.
            gtid: null,
            sequence: ctx.sequence,
            file: base.file,
            pos: base.pos,
            row: 0,
            tsMs: now,
            snapshot: 'true',
          },
          now,
        ),
      ),
    },
  };
}

/** The table's select list: every column, FLOAT columns widened to DOUBLE (see TableRef.floats). */
function selectFrom(t: TableRef): string {
  const list =
    t.floats.length === 0
      ? '*'
      : t.columns.map((c) => (t.floats.includes(c) ? `CAST(${q(c)} AS DOUBLE) AS ${q(c)}` : q(c))).join(', ');
  return `SELECT ${list} FROM ${q(t.db)}.${q(t.table)}`;
}

/** Each result column's converter; widened FLOAT columns keep FLOAT's conversion. */
function convertersFor(t: TableRef, fields: mysql.FieldPacket[]): Map<string, (v: unknown) => unknown> {
  return new Map(
    fields.map((f) => [
      f.name,
      converterFor(t.floats.includes(f.name) ? FLOAT_TYPE_CODE : (f.columnType ?? 0)),
    ]),
  );
}

function reportProgress(ctx: TableContext, rowsDone: number, chunkRows: number): void {
  const { table: t, metrics, log } = ctx;
  metrics.snapshotRows.inc({ db: t.db, table: t.table }, chunkRows);
  const ratio = t.estimatedRows > 0 ? Math.min(1, rowsDone / t.estimatedRows) : 0;
  metrics.snapshotProgress.set({ db: t.db, table: t.table }, ratio);
  log.info(
    { table: `${t.db}.${t.table}`, rows: rowsDone, estimated: t.estimatedRows, pct: Math.round(ratio * 100) },
    'snapshot progress',
  );
}

/**
 * A table with a primary key, in key order, in chunks of SNAPSHOT_CHUNK_ROWS (keyset queries in the
 * snapshot's view). Every row is its own queue item whose checkpoint records its key, so the
 * publisher cuts Kafka transactions by records and bytes anywhere, and a resume continues right
 * after the last acknowledged row.
 */
async function snapshotByKey(ctx: TableContext, done: string[], from: unknown[] | null): Promise<void> {
  const { conn, cfg, publisher, base, table: t } = ctx;
  const pk = t.primaryKey;
  const name = `${t.db}.${t.table}`;
  let after = from;
  let rowsDone = 0;
  for (;;) {
    let sql = selectFrom(t);
    const params: unknown[] = [];
    if (after) {
      sql += ` WHERE (${pk.map(q).join(',')}) > (${pk.map(() => '?').join(',')})`;
      params.push(...after);
    }
    sql += ` ORDER BY ${pk.map(q).join(',')} LIMIT ${cfg.snapshotChunkRows}`;
    const [rows, fields] = await conn.query<mysql.RowDataPacket[]>(sql, params);
    const converters = convertersFor(t, fields);
    const now = Date.now();
    for (const raw of rows) {
      const { record } = snapshotRecord(ctx, raw, converters, now);
      after = pk.map((c) => raw[c]);
      publisher.enqueue({ records: [record], progress: { ...base, snapshot: { done, table: name, after } } });
    }
    await publisher.flush();
    rowsDone += rows.length;
    reportProgress(ctx, rowsDone, rows.length);
    if (rows.length < cfg.snapshotChunkRows) return;
  }
}

/**
 * A table without a primary key has no order to resume by: its rows are streamed from one SELECT in
 * the snapshot's view (the server sends them as they are read; reading pauses while SNAPSHOT_CHUNK_ROWS
 * rows wait for Kafka, so memory stays bounded whatever the table's size). Its checkpoints say the
 * table is in progress without a key: a resume snapshots the table again from its start.
 */
async function snapshotWithoutKey(ctx: TableContext, done: string[]): Promise<void> {
  const { conn, cfg, publisher, base, table: t } = ctx;
  const name = `${t.db}.${t.table}`;
  // The server drops a connection it could not write to for net_write_timeout (60 s by default):
  // a paused result stream waits for Kafka as long as it takes.
  await conn.query('SET SESSION net_write_timeout = 86400');
  // The promise wrapper has no streaming query: its callback connection does.
  const callbackConn = (conn as unknown as { connection: CallbackConnection }).connection;
  const stream = callbackConn.query(selectFrom(t)).stream({ highWaterMark: 256 });
  let converters = new Map<string, (v: unknown) => unknown>();
  stream.on('fields', (fields: mysql.FieldPacket[]) => {
    converters = convertersFor(t, fields);
  });
  let rowsDone = 0;
  let inChunk = 0;
  const progress: Checkpoint = { ...base, snapshot: { done, table: name, after: null } };
  for await (const row of stream as AsyncIterable<Record<string, unknown>>) {
    const { record } = snapshotRecord(ctx, row, converters, Date.now());
    publisher.enqueue({ records: [record], progress });
    if (++inChunk >= cfg.snapshotChunkRows) {
      await publisher.flush();
      rowsDone += inChunk;
      reportProgress(ctx, rowsDone, inChunk);
      inChunk = 0;
    }
  }
  await publisher.flush();
  rowsDone += inChunk;
  reportProgress(ctx, rowsDone, inChunk);
}
