// Redis as managed services run it: TLS (a certificate from a CA of the test's own, made by
// dev/lib/tls.sh) and ACL users: the consumer's writer user and the api's read-mostly user, each
// connected the way the services connect (runtime/core/redis/connect.ts, rediss:// + REDIS_TLS_CA_FILE).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import type { RedisClient } from '../../runtime/core/redis/client.ts';
import { createLeanRedis, createRedis } from '../../runtime/core/redis/connect.ts';
import { at, pkg, purchase, upsert, v } from '../support/cache-rows.ts';
import { uniqueSuffix } from '../support/env.ts';
import { startTlsRedisProcess } from '../support/redis-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const prefix = `acltest${uniqueSuffix()}`;
const pki = mkdtempSync(join(tmpdir(), 'redis-tls-'));

let server: Awaited<ReturnType<typeof startTlsRedisProcess>>;
let tlsPort: number;
const clients: RedisClient[] = [];

beforeAll(async () => {
  server = await startTlsRedisProcess(pki, [
    // The consumer writes the read model (scripts, WAIT), nothing server-wide.
    `user consumer on >consumer-secret ~${prefix}* &* +@all -@dangerous +info +wait`,
    // The api reads it: read commands and the reader's script (which only reads), nothing else.
    `user api on >api-secret ~${prefix}* &* -@all +@read +@connection +evalsha +script|load +info`,
  ]);
  tlsPort = server.tlsPort;
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
  rmSync(pki, { recursive: true, force: true });
});

const connect = (url: string, ca = `${pki}/ca.crt`) => {
  const c = createRedis(
    { redisUrl: url, redisTlsCaFile: ca },
    { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true },
  );
  c.on('error', () => undefined);
  clients.push(c);
  return c;
};
const url = (user: string, password: string) => `rediss://${user}:${password}@127.0.0.1:${tlsPort}/0`;

describe('Redis over TLS with ACL users', () => {
  it('the consumer user writes the read model; the api user reads it', async () => {
    const writerRedis = connect(url('consumer', 'consumer-secret'));
    await writerRedis.connect();
    const writer = new CacheWriter(writerRedis, prefix);
    await writer.load();
    await writer.apply([
      upsert('packages', pkg('pkg_a', 'Alpha'), v(1)),
      upsert('purchases', purchase('pur_1', 'alice', at(5)), v(2)),
    ]);
    await writer.markReady('0-1-2');

    const apiRedis = connect(url('api', 'api-secret'));
    await apiRedis.connect();
    const reader = new RedisPurchasePackageReader(apiRedis, prefix);
    await reader.load();
    const read = await readPage(reader, 'alice', { limit: 10, cursor: null, token: null });
    expect(read.kind).toBe('hit');
    expect(JSON.stringify(read)).toContain('pur_1');

    // The api's lean page connection, as main.ts makes it: TLS, the ACL user; this user has no
    // MULTI, so first pages fall back to the script, with the same answer.
    const lean = createLeanRedis(
      { redisUrl: url('api', 'api-secret'), redisTlsCaFile: `${pki}/ca.crt` },
      { commandTimeoutMs: 10_000, connectionName: 'api-package-reads' },
    );
    try {
      const leanReader = new RedisPurchasePackageReader(apiRedis, prefix, lean);
      for (let i = 0; i < 2; i++)
        expect(await readPage(leanReader, 'alice', { limit: 10, cursor: null, token: null })).toEqual(read);
    } finally {
      await lean?.quit();
    }
  });

  it('the api user cannot write, and neither user reaches other keys or server-wide commands', async () => {
    const apiRedis = connect(url('api', 'api-secret'));
    await apiRedis.connect();
    await expect(apiRedis.set(`${prefix}:forged`, '1')).rejects.toThrow(/NOPERM/);
    const writerRedis = connect(url('consumer', 'consumer-secret'));
    await writerRedis.connect();
    await expect(writerRedis.get('someone-else:key')).rejects.toThrow(/NOPERM/);
    await expect(writerRedis.flushall()).rejects.toThrow(/NOPERM/);
  });

  /** What the client reported when its connection was refused (ioredis emits it, then closes). */
  async function refusedWith(c: RedisClient): Promise<string> {
    const first = new Promise<string>((done) => c.once('error', (err: Error) => done(err.message)));
    await c.connect().catch(() => undefined);
    return first;
  }

  it('trusts a CA given as PEM text (REDIS_TLS_CA_PEM, what a pod gets from redis.tls.caSecret)', async () => {
    const c = createRedis(
      { redisUrl: url('api', 'api-secret'), redisTlsCaPem: readFileSync(`${pki}/ca.crt`, 'utf8') },
      { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true },
    );
    c.on('error', () => undefined);
    clients.push(c);
    await c.connect();
    expect(await c.ping()).toBe('PONG');
  });

  it('a wrong password and a wrong CA are refused with clear errors', async () => {
    expect(await refusedWith(connect(url('api', 'wrong')))).toMatch(
      /WRONGPASS invalid username-password pair/,
    );
    const other = mkdtempSync(join(tmpdir(), 'redis-other-ca-'));
    try {
      await run('bash', ['-c', `. dev/lib/common.sh && . dev/lib/tls.sh && tls_ca "$1"`, '_', other], {
        cwd: ROOT,
      });
      expect(await refusedWith(connect(url('api', 'api-secret'), `${other}/ca.crt`))).toMatch(
        /self[- ]signed certificate|unable to verify|certificate/i,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
