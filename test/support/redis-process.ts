import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './wait.ts';

export type RedisProcess = {
  port: number;
  dir: string;
  /** A probe connection to it (for SENTINEL commands and the like); closed by stop(). */
  probe: Redis;
  /** SIGSTOP / SIGCONT: a server that stops answering without closing its connections. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
};

/**
 * A private redis-server (or Sentinel) for one suite: its own temp dir and free loopback port, no
 * persistence, started from the Debian binary and stopped by its pid. `config` lines are appended
 * to the generated file (Sentinel rewrites its config, so the file lives in the temp dir).
 */
export async function startRedisProcess(
  /** `port`: a given one (e.g. to start a stopped server again where its clients reconnect). */
  opts: { sentinel?: boolean; config?: string[]; port?: number } = {},
): Promise<RedisProcess> {
  const dir = await mkdtemp(join(tmpdir(), opts.sentinel ? 'payments-sentinel-' : 'payments-redis-'));
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'redis.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, 'redis.log')}`,
      ...(opts.sentinel ? [] : ['save ""', 'appendonly no']),
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', opts.sentinel ? [conf, '--sentinel'] : [conf], {
    stdio: 'ignore',
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}), see ${dir}`))),
  );
  exited.catch(() => undefined);
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50 });
  probe.on('error', () => {}); // refused until it listens: retried
  const signal = (name: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, name);
  };
  const stop = async () => {
    probe.disconnect();
    if (child.pid !== undefined && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      signal('SIGCONT');
      signal('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      exited,
      waitFor('redis-server to answer', async () => (await probe.ping()) === 'PONG'),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, dir, probe, pause: () => signal('SIGSTOP'), resume: () => signal('SIGCONT'), stop };
}
