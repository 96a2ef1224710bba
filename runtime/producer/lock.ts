import { createHash } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { sleep } from '../core/backoff.ts';
import { connectMysql } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';

/**
 * The pipeline lock: MySQL GET_LOCK on a dedicated connection. The server releases it when that
 * connection ends (process killed, network lost), so a waiting instance takes over by itself. The
 * Kafka transactional id adds fencing on top: a producer that lost its lock but still runs cannot
 * commit once the new holder initialised its transactions.
 *
 * When the holder's own lock connection breaks (source restart, network blip) it reconnects and
 * takes the lock back if nobody else did; `lost` resolves only when that fails.
 */
export type PipelineLock = {
  /** Resolves when the lock is gone for good (another instance has it, or the source stayed unreachable). */
  lost: Promise<Error>;
  release: () => Promise<void>;
};

/** MySQL/MariaDB refuse GET_LOCK names longer than this. */
const MAX_LOCK_NAME = 64;
const LOCK_PREFIX = 'payments_producer.';

/**
 * The GET_LOCK name of a pipeline: `payments_producer.<name>` when that fits in 64 characters (as
 * before, so running deployments keep their lock); otherwise the start of the name, `~` and 20 hex
 * digits of the SHA-256 of the whole name. Cutting the name off instead made pipelines whose names
 * share their first 46 characters share one lock, so only one of them could run. `~` never occurs in
 * a pipeline name (PRODUCER_NAME is `[A-Za-z0-9_.-]`), so the two forms never meet.
 */
export function lockName(pipeline: string): string {
  const plain = `${LOCK_PREFIX}${pipeline}`;
  if (plain.length <= MAX_LOCK_NAME) return plain;
  const hash = createHash('sha256').update(pipeline, 'utf8').digest('hex').slice(0, 20);
  const readable = pipeline.slice(0, MAX_LOCK_NAME - LOCK_PREFIX.length - 1 - hash.length);
  return `${LOCK_PREFIX}${readable}~${hash}`;
}

type Options = {
  mysqlUrl: string;
  pipeline: string;
  /** How long one attempt waits for the lock (GET_LOCK's timeout, whole seconds). */
  waitMs: number;
  log: Logger;
  signal?: AbortSignal;
  /** How long to keep trying to take the lock back after the lock connection broke. */
  recoverMs?: number;
};

const connect = (url: string) => connectMysql(url, { enableKeepAlive: true });

async function tryLock(conn: mysql.Connection, name: string, waitMs: number): Promise<boolean> {
  // GET_LOCK's timeout is in seconds.
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [
    name,
    Math.ceil(waitMs / 1000),
  ]);
  return rows[0]?.got === 1;
}

export async function acquirePipelineLock(opts: Options): Promise<PipelineLock> {
  const name = lockName(opts.pipeline);
  let conn = await connect(opts.mysqlUrl);
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new Error('stopped while waiting for the pipeline lock');
      if (await tryLock(conn, name, opts.waitMs)) break;
      opts.log.info({ lock: name }, 'another producer holds the pipeline lock: waiting');
    }
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
  opts.log.info({ lock: name }, 'pipeline lock acquired: this instance is the active producer');

  let released = false;
  let recovering = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveLost: (err: Error) => void = () => undefined;
  const lost = new Promise<Error>((resolve) => {
    resolveLost = resolve;
  });

  const recover = async (cause: unknown) => {
    if (released || recovering) return;
    recovering = true;
    opts.log.warn({ err: cause, lock: name }, 'pipeline lock connection broke: taking the lock back');
    conn.destroy();
    const deadline = Date.now() + (opts.recoverMs ?? 120_000);
    while (!released && Date.now() < deadline) {
      let next: mysql.Connection | undefined;
      try {
        next = await connect(opts.mysqlUrl);
        if (await tryLock(next, name, 0)) {
          conn = next;
          watch(conn);
          recovering = false;
          opts.log.info({ lock: name }, 'pipeline lock taken back');
          return;
        }
        await next.end().catch(() => undefined);
        clearInterval(timer);
        resolveLost(new Error('another producer took the pipeline lock'));
        return;
      } catch {
        next?.destroy();
        await sleep(1000);
      }
    }
    clearInterval(timer);
    if (!released)
      resolveLost(new Error('could not take the pipeline lock back: source unreachable', { cause }));
  };

  const watch = (c: mysql.Connection) => {
    c.on('error', (err) => {
      if (c === conn) void recover(err); // late errors of a replaced connection are noise
    });
  };
  watch(conn);
  // A ping notices a dead connection even while the binlog is idle.
  timer = setInterval(() => {
    if (!recovering) conn.query('SELECT 1').catch((err: unknown) => void recover(err));
  }, 5000);
  timer.unref();

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
