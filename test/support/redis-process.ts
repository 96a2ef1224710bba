import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  /** SIGKILL: a crash (no shutdown, no last sync to replicas); stop() still cleans up. */
  kill(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * A private redis-server (or Sentinel) for one suite: its own temp dir and free loopback port, no
 * persistence, started from the Debian binary and stopped by its pid. `config` lines are appended
 * to the generated file (Sentinel rewrites its config, so the file lives in the temp dir).
 */
export async function startRedisProcess(
  /**
   * `port`: a given one (e.g. to start a stopped server again where its clients reconnect).
   * `tls`: TLS only on that port (no plain one), with `dir`/`cert`.crt|key and `dir`/ca.crt (dev/lib/tls.sh);
   * `probeAuth`: the ACL user the probe connects as (when the default user is off).
   */
  opts: {
    sentinel?: boolean;
    config?: string[];
    port?: number;
    tls?: { dir: string; cert: string };
    probeAuth?: { username: string; password: string };
  } = {},
): Promise<RedisProcess> {
  const dir = await mkdtemp(join(tmpdir(), opts.sentinel ? 'payments-sentinel-' : 'payments-redis-'));
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'redis.conf');
  await writeFile(
    conf,
    [
      ...(opts.tls
        ? [
            'port 0',
            `tls-port ${port}`,
            `tls-cert-file ${opts.tls.dir}/${opts.tls.cert}.crt`,
            `tls-key-file ${opts.tls.dir}/${opts.tls.cert}.key`,
            `tls-ca-cert-file ${opts.tls.dir}/ca.crt`,
            'tls-auth-clients no',
            // Replication (and a Sentinel's links to servers and other Sentinels) over TLS too.
            'tls-replication yes',
          ]
        : [`port ${port}`]),
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
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => 50,
    ...(opts.tls && { tls: { ca: await readFile(`${opts.tls.dir}/ca.crt`, 'utf8') } }),
    ...opts.probeAuth,
  });
  probe.on('error', () => {}); // refused until it listens: retried
  // exitCode stays null for a process ended by a signal: track the exit itself.
  let running = true;
  child.once('exit', () => {
    running = false;
  });
  const signal = (name: NodeJS.Signals) => {
    if (child.pid !== undefined && running) process.kill(child.pid, name);
  };
  const stop = async () => {
    probe.disconnect();
    if (child.pid !== undefined && running) {
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
  const kill = async () => {
    if (child.pid === undefined || !running) return;
    const gone = new Promise((r) => child.once('exit', r));
    signal('SIGKILL');
    await gone;
  };
  return { port, dir, probe, pause: () => signal('SIGSTOP'), resume: () => signal('SIGCONT'), kill, stop };
}

/** A server certificate `${pki}/${name}.crt|key` for 127.0.0.1 from a CA of its own, `${pki}/ca.crt` (dev/lib/tls.sh). */
export async function makeServerCert(pki: string, name = 'redis'): Promise<void> {
  await promisify(execFile)(
    'bash',
    ['-c', '. dev/lib/common.sh && . dev/lib/tls.sh && tls_server_cert "$1" "$2"', '_', pki, name],
    { cwd: join(import.meta.dirname, '../..') },
  );
}

/**
 * A TLS-only redis-server (startRedisProcess with `tls`) with a certificate from a CA of its own made
 * in `pki`: `${pki}/ca.crt` is what clients trust. `config` adds lines (users, for instance).
 */
export async function startTlsRedisProcess(
  pki: string,
  config: string[] = [],
): Promise<RedisProcess & { tlsPort: number; caFile: string }> {
  await makeServerCert(pki);
  const server = await startRedisProcess({ tls: { dir: pki, cert: 'redis' }, config });
  return { ...server, tlsPort: server.port, caFile: `${pki}/ca.crt` };
}
