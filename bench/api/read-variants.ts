/**
 * The first page's Redis read, four ways, same run and data (20 purchases, 64 concurrent callers,
 * alternating): ioredis + the page script (Sentinel / Cluster today), the lean connection with plain
 * commands (standalone today), and two tried and not kept: ioredis with MULTI + HMGETs, ioredis with an
 * ids-only script + HMGETs. Client (this process) and Redis CPU per read from /proc.
 * Usage: node bench/api/read-variants.ts
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { LuaScript } from '../../runtime/core/cache/lua.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import { createLeanRedis } from '../../runtime/core/redis/connect.ts';
import { need, withBenchData } from './stack.ts';

type HmgetBuffer = { hmgetBuffer(key: string, ...fields: string[]): Promise<(Buffer | null)[]> };
const cpu = (pid: number | 'self') => {
  const f = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return Number(f[11]) + Number(f[12]);
};
const idsScript = new LuaScript(
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'miss'} end
return {'hit', redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1])), redis.call('GET', KEYS[4]) or ''}
`,
  4,
);
await withBenchData(20, async (data) => {
  const redis = new Redis(need('REDIS_URL'), { enableAutoPipelining: true });
  const probe = new Redis(need('REDIS_URL'));
  const redisPid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
  const k = cacheKeys(need('REDIS_KEY_PREFIX'));
  const u = data.userId;
  const reader = new RedisPurchasePackageReader(redis, k.prefix);
  const opts = { limit: 20, cursor: null, token: null };
  const tail = async (ids: string[]) => {
    const entries = (await (redis as unknown as HmgetBuffer).hmgetBuffer(
      k.userEntries(u),
      ...ids,
    )) as Buffer[];
    const pk = new Set<string>();
    for (const e of entries) pk.add(e.toString('latin1', 0, e.indexOf(1)));
    const names = await (redis as unknown as HmgetBuffer).hmgetBuffer(k.catalogNames, ...pk);
    return [entries, names];
  };
  const lean = createLeanRedis({ redisUrl: need('REDIS_URL') }, {});
  const leanReader = new RedisPurchasePackageReader(redis, k.prefix, lean);
  const a = String(((await reader.read(u, opts)) as { body: Buffer }).body);
  const b = String(((await leanReader.read(u, opts)) as { body: Buffer }).body);
  if (a !== b) throw new Error('different pages');
  const variants: Record<string, () => Promise<unknown>> = {
    'ioredis + script': () => reader.read(u, opts),
    'lean + plain': () => leanReader.read(u, opts),
    'ioredis + MULTI': async () => {
      const r = (await redis
        .multi()
        .get(k.appliedFor(u))
        .exists(k.readyFor(u))
        .zrevrange(k.userPurchases(u), 0, 20)
        .exec()) as [unknown, unknown][];
      const ids = ((r[2]?.[1] ?? []) as string[]).slice(0, 20);
      return tail(ids);
    },
    'ioredis + ids script': async () => {
      const r = (await idsScript.run(
        redis,
        [k.readyFor(u), k.userPurchases(u), k.userEntries(u), k.appliedFor(u)],
        [20],
      )) as [string, string[], string];
      return tail(r[1].slice(0, 20));
    },
  };
  for (const v of Object.values(variants)) await v();
  for (let round = 0; round < 2; round++)
    for (const [name, v] of Object.entries(variants)) {
      const end0 = performance.now() + 500;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (performance.now() < end0) await v();
        }),
      );
      let n = 0;
      const s = cpu('self'),
        r = cpu(redisPid),
        t0 = performance.now();
      const end = t0 + 3000;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (performance.now() < end) {
            await v();
            n++;
          }
        }),
      );
      const wall = (performance.now() - t0) / 1000;
      console.log(
        `${name.padEnd(21)} ${Math.round(n / wall)} reads/s client ${(((cpu('self') - s) * 1e4) / n).toFixed(1)} µs redis ${(((cpu(redisPid) - r) * 1e4) / n).toFixed(1)} µs load ${loadavg()[0]?.toFixed(1)}`,
      );
    }
  await redis.quit();
  await probe.quit();
  await lean?.quit();
});
