import ZongJi, { type AnyBinlogEvent } from '@vlasky/zongji';
import type mysql from 'mysql2/promise';
import { connectMysql, mysqlClientOptions } from '../../core/db/pool.ts';

/** Binlog files still on the server, oldest first. */
export async function listBinlogs(mysqlUrl: string): Promise<string[]> {
  const conn = await connectMysql(mysqlUrl);
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
    return rows.map((r) => String(r.Log_name));
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Creation time of a binlog file: the timestamp of its format description event. */
function fileStartMs(mysqlUrl: string, file: string, serverId: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const z = new ZongJi(mysqlClientOptions(mysqlUrl));
    const done = (err: Error | null, ms?: number) => {
      clearTimeout(timer);
      z.removeAllListeners('binlog');
      z.stop();
      if (err) reject(err);
      else resolve(ms ?? 0);
    };
    const timer = setTimeout(
      () => done(new Error(`no format event from ${file} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    z.on('binlog', (e: AnyBinlogEvent) => {
      if (e.getEventName() === 'format' && e.timestamp > 0) done(null, e.timestamp);
    });
    z.on('error', (err: Error) => done(err));
    z.start({ serverId, filename: file, position: 4, includeEvents: ['format'] });
  });
}

/**
 * The binlog file to start from for "everything at or after `atMs`": the newest file created at or
 * before that instant (or the oldest file when all are newer). The reader then skips transactions
 * older than `atMs`, so only one file at most is scanned needlessly.
 */
export async function locateTimestamp(mysqlUrl: string, atMs: number, serverId: number): Promise<string> {
  const files = await listBinlogs(mysqlUrl);
  for (let i = files.length - 1; i > 0; i--) {
    const file = files[i];
    if (file && (await fileStartMs(mysqlUrl, file, serverId)) <= atMs) return file;
  }
  const oldest = files[0];
  if (!oldest) throw new Error('the source has no binary logs');
  return oldest;
}
