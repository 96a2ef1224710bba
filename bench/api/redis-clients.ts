/**
 * The read path's Redis call with each client, same run: the reader's exact EVALSHA (first page of
 * 20 purchases, no token) with bulk strings returned as Buffers, 64 concurrent callers, each client
 * pipelining the way it does best (ioredis: enableAutoPipelining; node-redis: it writes every command
 * queued in one tick together by default). Reports reads/s and CPU µs per read of this process (the
 * client) and of Redis, from /proc. Clients alternate (A B A B …) so drift of a shared machine hits
 * both alike. Usage: node bench/api/redis-clients.ts [seconds=5] [rounds=2] [concurrency=64]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { createClient, RESP_TYPES } from 'redis';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { readPackageScript } from '../../runtime/core/cache/scripts.ts';
import { need, withBenchData } from './stack.ts';

const seconds = Number(process.argv[2] ?? '5');
const rounds = Number(process.argv[3] ?? '2');
const concurrency = Number(process.argv[4] ?? '64');
const TICKS_PER_SECOND = 100;

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number | 'self'): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

type Client = { name: string; read: () => Promise<unknown>; close: () => Promise<void> };

async function ioredisClient(url: string, keys: string[], args: string[]): Promise<Client> {
  const redis = new Redis(url, { enableAutoPipelining: true });
  await readPackageScript.load(redis);
  return {
    name: 'ioredis',
    read: () => readPackageScript.runBuffer(redis, keys, args),
    close: async () => {
      await redis.quit();
    },
  };
}

async function nodeRedisClient(url: string, keys: string[], args: string[]): Promise<Client> {
  const client = await createClient({ url }).connect();
  const buffers = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  return {
    name: 'node-redis',
    read: () => buffers.evalSha(readPackageScript.sha, { keys, arguments: args }),
    close: async () => {
      await client.close();
    },
  };
}

/** The reply as one comparable string: both clients must hand back the same bytes. */
function fingerprint(reply: unknown): string {
  if (Buffer.isBuffer(reply)) return `b:${reply.toString('hex')}`;
  if (Array.isArray(reply)) return `[${reply.map(fingerprint).join(',')}]`;
  return `${typeof reply}:${String(reply)}`;
}

async function measure(client: Client, redisPid: number) {
  const warmEnd = performance.now() + 1000;
  const callers = (end: number, count: { n: number }) =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await client.read();
          count.n++;
        }
      }),
    );
  await callers(warmEnd, { n: 0 });
  const count = { n: 0 };
  const self = cpuTicks('self');
  const redis = cpuTicks(redisPid);
  const started = performance.now();
  await callers(started + seconds * 1000, count);
  const wall = (performance.now() - started) / 1000;
  const perRead = (ticks: number) => ((ticks / TICKS_PER_SECOND) * 1e6) / count.n;
  return {
    readsPerSecond: Math.round(count.n / wall),
    clientUs: perRead(cpuTicks('self') - self),
    redisUs: perRead(cpuTicks(redisPid) - redis),
  };
}

await withBenchData(20, async (data) => {
  const url = need('REDIS_URL');
  const keys = cacheKeys(need('REDIS_KEY_PREFIX'));
  const scriptKeys = [
    keys.readyFor(data.userId),
    keys.userPurchases(data.userId),
    keys.userEntries(data.userId),
    keys.appliedFor(data.userId),
    keys.catalogNames,
  ];
  const scriptArgs = ['20', '', '', '', '0'];
  const clients = [
    await ioredisClient(url, scriptKeys, scriptArgs),
    await nodeRedisClient(url, scriptKeys, scriptArgs),
  ];
  try {
    const replies = await Promise.all(clients.map(async (c) => fingerprint(await c.read())));
    if (!replies[0]?.startsWith('[b:686974')) throw new Error('the read script did not answer a hit');
    if (new Set(replies).size !== 1) throw new Error('the clients answered different bytes');

    const probe = new Redis(url);
    const redisPid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    await probe.quit();
    console.log(`${seconds} s per client and round, ${concurrency} concurrent callers, 20-purchase page`);
    for (let round = 1; round <= rounds; round++) {
      for (const client of clients) {
        const r = await measure(client, redisPid);
        const load = loadavg()[0]?.toFixed(2);
        console.log(
          `round ${round} ${client.name.padEnd(10)} ${String(r.readsPerSecond).padStart(6)} reads/s  ` +
            `client ${r.clientUs.toFixed(1).padStart(5)} µs/read  redis ${r.redisUs.toFixed(1).padStart(5)} µs/read  ` +
            `load ${load}`,
        );
      }
    }
  } finally {
    for (const c of clients) await c.close();
  }
});
