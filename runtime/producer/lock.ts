import mysql from 'mysql2/promise';
import type { Logger } from '../core/logger.ts';

/**
 * The pipeline lock: MySQL GET_LOCK on a dedicated connection. The server releases it when that
 * connection ends (process killed, network lost), so a waiting instance takes over by itself. The
 * Kafka transactional id adds fencing on top: a producer that lost its lock but still runs cannot
 * commit once the new holder initialised its transactions.
 */
export type PipelineLock = {
  /** Resolves when the connection holding the lock is lost (the holder must stop publishing). */
  lost: Promise<Error>;
  release: () => Promise<void>;
};

export function lockName(pipeline: string): string {
  return `payments_producer.${pipeline}`.slice(0, 64);
}

export async function acquirePipelineLock(opts: {
  mysqlUrl: string;
  pipeline: string;
  waitSeconds: number;
  log: Logger;
  signal?: AbortSignal;
}): Promise<PipelineLock> {
  const u = new URL(opts.mysqlUrl);
  const conn = await mysql.createConnection({
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    enableKeepAlive: true,
  });
  const name = lockName(opts.pipeline);
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new Error('stopped while waiting for the pipeline lock');
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [
        name,
        opts.waitSeconds,
      ]);
      if (rows[0]?.got === 1) break;
      opts.log.info({ lock: name }, 'another producer holds the pipeline lock: waiting');
    }
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
  opts.log.info({ lock: name }, 'pipeline lock acquired: this instance is the active producer');

  let released = false;
  let timer: NodeJS.Timeout | undefined;
  const lost = new Promise<Error>((resolve) => {
    const onLost = (err: unknown) => {
      if (released) return;
      clearInterval(timer);
      resolve(err instanceof Error ? err : new Error(String(err)));
    };
    conn.on('error', onLost);
    // A ping notices a dead connection even while the binlog is idle.
    timer = setInterval(() => {
      conn.query('SELECT 1').catch(onLost);
    }, 5000);
    timer.unref();
  });

  return {
    lost,
    async release() {
      released = true;
      clearInterval(timer);
      await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
      await conn.end().catch(() => undefined);
    },
  };
}
