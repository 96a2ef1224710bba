// Redis Sentinel as managed services run it: a master, a replica and three Sentinels, all TLS only
// (a CA of the test's own, made by dev/lib/tls.sh; replication and the Sentinels' links over TLS too)
// and ACL users everywhere: the consumer's writer user and the api's read-mostly user on the servers,
// a replication user and a Sentinel user the replica and the Sentinels authenticate with, and an
// application user the Sentinels themselves require. The clients are built the way the services
// build them (runtime/core/redis/connect.ts from the env variables), and follow a failover.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import type { RedisClient } from '../../runtime/core/redis/client.ts';
import { createRedis, redisConfigOf } from '../../runtime/core/redis/connect.ts';
import { at, pkg, purchase, upsert, v } from '../support/cache-rows.ts';
import { uniqueSuffix } from '../support/env.ts';
import { makeServerCert, type RedisProcess, startRedisProcess } from '../support/redis-process.ts';
import { freeStablePort, waitFor } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const prefix = `sentls${uniqueSuffix()}`;
const master = 'payments-tls';
const pki = mkdtempSync(join(tmpdir(), 'redis-sentinel-tls-'));
const admin = { username: 'admin', password: 'admin-secret' };

// The same users on the master and the replica (a replica becomes the master).
const serverUsers = [
  'user default off',
  `user ${admin.username} on >${admin.password} ~* &* +@all`,
  `user consumer on >consumer-secret ~${prefix}* &* +@all -@dangerous +info +wait`,
  // +eval: a promoted replica has no cached scripts, and the reader then sends its script with EVAL.
  `user api on >api-secret ~${prefix}* &* -@all +@read +@connection +evalsha +eval +script|load +info`,
  // What a replica needs of its master.
  'user replication on >replication-secret -@all +psync +replconf +ping',
  // What a Sentinel needs of the servers it monitors (Redis's documented Sentinel ACL).
  'user sentinel on >sentinel-secret allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill',
  'masteruser replication',
  'masterauth replication-secret',
];

let primary: RedisProcess;
let replica: RedisProcess;
const sentinels: RedisProcess[] = [];
const clients: RedisClient[] = [];

async function startSentinel(primaryPort: number): Promise<RedisProcess> {
  return startRedisProcess({
    sentinel: true,
    port: await freeStablePort(),
    tls: { dir: pki, cert: 'redis' },
    probeAuth: admin,
    config: [
      `sentinel monitor ${master} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${master} 1000`,
      `sentinel failover-timeout ${master} 10000`,
      `sentinel auth-user ${master} sentinel`,
      `sentinel auth-pass ${master} sentinel-secret`,
      // The Sentinels' own users: the peers' (for their links to each other), the services'.
      'user default off',
      `user ${admin.username} on >${admin.password} allchannels +@all`,
      'user peer on >peer-secret allchannels +@all',
      'sentinel sentinel-user peer',
      'sentinel sentinel-pass peer-secret',
      'user app on >app-secret allchannels -@all +@connection +sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves +subscribe +psubscribe +unsubscribe +punsubscribe',
    ],
  });
}

beforeAll(async () => {
  await makeServerCert(pki);
  const tls = { dir: pki, cert: 'redis' };
  primary = await startRedisProcess({
    port: await freeStablePort(),
    tls,
    probeAuth: admin,
    config: serverUsers,
  });
  replica = await startRedisProcess({
    port: await freeStablePort(),
    tls,
    probeAuth: admin,
    config: [...serverUsers, `replicaof 127.0.0.1 ${primary.port}`],
  });
  await waitFor('the replica in sync over TLS', async () =>
    String(await replica.probe.info('replication')).includes('master_link_status:up'),
  );
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(primary.port));
  // Every Sentinel knows the replica and its two peers (found over TLS, authenticated as `peer`).
  await waitFor(
    'the Sentinels know each other and the replica',
    async () => {
      for (const s of sentinels) {
        const peers = (await s.probe.call('SENTINEL', 'sentinels', master)) as unknown[];
        const replicas = (await s.probe.call('SENTINEL', 'replicas', master)) as unknown[];
        if (peers.length < 2 || replicas.length < 1) return false;
      }
      return true;
    },
    30_000,
  );
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const s of sentinels) await s.stop();
  await replica?.stop();
  await primary?.stop();
  rmSync(pki, { recursive: true, force: true });
});

/** The services' env for this Sentinel group (REDIS_URL's credentials are the master's). */
function env(user: string, password: string, overrides: Record<string, string> = {}) {
  const hosts = sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  return {
    REDIS_URL: `rediss://${user}:${password}@${hosts}/0`,
    REDIS_SENTINEL_MASTER: master,
    REDIS_TLS_CA_FILE: `${pki}/ca.crt`,
    REDIS_SENTINEL_TLS: 'true',
    REDIS_SENTINEL_USERNAME: 'app',
    REDIS_SENTINEL_PASSWORD: 'app-secret',
    ...overrides,
  };
}

function connect(vars: Record<string, string>, options = {}): RedisClient {
  const c = createRedis(redisConfigOf(vars), { maxRetriesPerRequest: 2, ...options });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** What the client reported when it could not connect (ioredis emits it, then keeps trying or ends). */
async function refusedWith(vars: Record<string, string>): Promise<string> {
  const c = connect(vars, {
    lazyConnect: true,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
  });
  const first = new Promise<string>((done) => c.once('error', (err: Error) => done(err.message)));
  await c.connect().catch(() => undefined);
  return first;
}

/** The port of the server a client is connected to (the users may not run ROLE). */
const serverPort = (c: RedisClient) => (c as Redis).stream.remotePort;

const addrOf = async (s: RedisProcess) =>
  (await s.probe.call('SENTINEL', 'get-master-addr-by-name', master)) as [string, string];

describe('Redis Sentinel over TLS with ACL users', () => {
  it('the consumer user writes and the api user reads through the Sentinel-discovered master', async () => {
    const writerRedis = connect(env('consumer', 'consumer-secret'));
    const writer = new CacheWriter(writerRedis, prefix);
    await writer.load();
    await writer.apply([
      upsert('packages', pkg('pkg_a', 'Alpha'), v(1)),
      upsert('purchases', purchase('pur_1', 'alice', at(5)), v(2)),
    ]);
    await writer.markReady('0-1-2');
    // The write is on the master the Sentinels named (and replicated to the replica over TLS).
    expect((await primary.probe.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    expect(serverPort(writerRedis)).toBe(primary.port);

    const readerRedis = connect(env('api', 'api-secret'));
    const reader = new RedisPurchasePackageReader(readerRedis, prefix);
    await reader.load();
    expect(serverPort(readerRedis)).toBe(primary.port);
    const read = await readPage(reader, 'alice', { limit: 10, cursor: null, token: null });
    expect(read.kind).toBe('hit');
    expect(JSON.stringify(read)).toContain('pur_1');
  });

  it('the Sentinels themselves refuse a plain-text client and one without their user', async () => {
    expect(await refusedWith(env('api', 'api-secret', { REDIS_SENTINEL_TLS: 'false' }))).toMatch(
      /All sentinels are unreachable/,
    );
    expect(await refusedWith(env('api', 'api-secret', { REDIS_SENTINEL_PASSWORD: 'wrong' }))).toMatch(
      /All sentinels are unreachable.*WRONGPASS invalid username-password pair/,
    );
  });

  it('a wrong master password and a wrong CA are refused with clear errors', async () => {
    expect(await refusedWith(env('api', 'wrong'))).toMatch(/WRONGPASS invalid username-password pair/);
    const other = mkdtempSync(join(tmpdir(), 'redis-other-ca-'));
    try {
      await run('bash', ['-c', `. dev/lib/common.sh && . dev/lib/tls.sh && tls_ca "$1"`, '_', other], {
        cwd: ROOT,
      });
      // The Sentinels' certificate fails first (same CA file); ioredis drops the TLS reason of a
      // Sentinel connection, so this is all it reports: never a connection to an unverified server.
      expect(await refusedWith(env('api', 'api-secret', { REDIS_TLS_CA_FILE: `${other}/ca.crt` }))).toMatch(
        /All sentinels are unreachable/,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('the clients follow a failover (master killed, replica promoted) over TLS', async () => {
    const writerRedis = connect(env('consumer', 'consumer-secret'), { maxRetriesPerRequest: null });
    const readerRedis = connect(env('api', 'api-secret'), { maxRetriesPerRequest: null });
    const writer = new CacheWriter(writerRedis, prefix);
    await writer.load();
    const reader = new RedisPurchasePackageReader(readerRedis, prefix);
    await reader.load();
    await writer.apply([upsert('purchases', purchase('pur_2', 'alice', at(6)), v(3))]);
    // The replica has it before the crash (WAIT 1), so the promoted one still serves it.
    expect(await writerRedis.call('WAIT', '1', '5000')).toBe(1);

    await primary.kill();
    await waitFor(
      'the Sentinels promote the replica',
      async () => {
        for (const s of sentinels) if ((await addrOf(s))[1] !== String(replica.port)) return false;
        return true;
      },
      30_000,
    );
    expect(((await replica.probe.call('ROLE')) as string[])[0]).toBe('master');

    // Both clients reconnect to the new master through the Sentinels, over TLS, as their users.
    await waitFor(
      'the writer writes on the new master',
      async () => {
        try {
          await writer.apply([upsert('purchases', purchase('pur_3', 'alice', at(7)), v(4))]);
          return true;
        } catch {
          return false;
        }
      },
      30_000,
    );
    const read = await readPage(reader, 'alice', { limit: 10, cursor: null, token: null });
    expect(read.kind).toBe('hit');
    expect(JSON.stringify(read)).toContain('pur_3');
    expect(JSON.stringify(read)).toContain('pur_2');
    // Connected to the promoted replica (the old master is gone).
    expect(serverPort(readerRedis)).toBe(replica.port);
    expect(serverPort(writerRedis)).toBe(replica.port);
  });
});
