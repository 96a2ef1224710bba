/**
 * Redis Cluster vs standalone in one run, on the same machine and data: the purchase-package read
 * (the api's Redis read of GET /v1/users/{id}/purchases: the page script to the user's slot, then the
 * catalog names) with the near cache off and on, and the apply rate of the consumer's Redis step
 * (CacheWriter.apply, batches of 500 changes, as the consumer sends them). Prints each figure and the
 * cluster/standalone ratios.
 *
 * The standalone Redis is the test stack's (REDIS_URL); the cluster is a private one, started and
 * stopped here by dev/stack.sh (REDIS_MODE=cluster, 3 masters + 3 replicas from BENCH_CLUSTER_PORT).
 * Usage: make bench-redis-cluster   (or: node bench/redis-cluster/bench.ts [seconds=5] [concurrency=32])
 */

import { Registry } from 'prom-client';
import { createNearCache } from '../../runtime/api/package/near-cache-setup.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import type { CanonicalRow } from '../../runtime/core/cache/rows.ts';
import type { PurchasePackageReader } from '../../runtime/core/cache/types.ts';
import { CacheWriter, type RowChange } from '../../runtime/core/cache/writer.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { versionOf } from '../../runtime/core/position.ts';
import type { RedisClient } from '../../runtime/core/redis/client.ts';
import { createRedis, type RedisConnectionConfig } from '../../runtime/core/redis/connect.ts';
import { privateStack } from '../../test/support/private-stack.ts';
import { deleteRedisKeys } from '../../test/support/redis.ts';

const seconds = Number(process.argv[2] ?? '5');
const concurrency = Number(process.argv[3] ?? '32');
const USERS = 2000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PURCHASES_PER_USER = 10;
const standaloneUrl = process.env.REDIS_URL;
if (!standaloneUrl)
  throw new Error('REDIS_URL (the test stack) is not set: run it through make bench-redis-cluster');

const port = Number(process.env.BENCH_CLUSTER_PORT ?? 32300);
const stack = privateStack('test', ['redis'], {
  dir: '.local/bench-redis-cluster',
  env: { REDIS_MODE: 'cluster', REDIS_PORT: String(port) },
});

const ts = '2026-11-25T10:00:00.000000Z';
function changes(): RowChange[] {
  const out: RowChange[] = [];
  const v = (n: number) => versionOf(10n ** 12n + BigInt(n), 0);
  let n = 0;
  const pkg: CanonicalRow = {
    id: 'pkg_bench',
    name: 'Bench',
    description: '',
    price_amount: 1999,
    currency: 'EUR',
    active: 1,
    created_at: ts,
    updated_at: ts,
  };
  out.push({ table: 'packages', id: 'pkg_bench', version: v(n++), after: pkg, before: null });
  for (let u = 0; u < USERS; u++) {
    for (let i = 0; i < PURCHASES_PER_USER; i++) {
      const id = `pur_${u}_${i}`;
      const created = `2026-11-25T10:00:${String(i).padStart(2, '0')}.000000Z`;
      const purchase = {
        id,
        user_id: `u_${u}`,
        package_id: 'pkg_bench',
        amount: 1999,
        currency: 'EUR',
        created_at: created,
        updated_at: created,
      };
      out.push({ table: 'purchases', id, version: v(n++), after: purchase, before: null });
      const payment = {
        id: `pay_${u}_${i}`,
        purchase_id: id,
        user_id: `u_${u}`,
        amount: 1999,
        currency: 'EUR',
        status: i % 3 ? 'succeeded' : 'pending',
        provider: 'bench',
        provider_ref: null,
        failure_code: null,
        created_at: created,
        updated_at: created,
      };
      out.push({ table: 'payments', id: payment.id, version: v(n++), after: payment, before: null });
    }
  }
  return out;
}

type Target = { name: string; config: RedisConnectionConfig; redis: RedisClient; prefix: string };

async function applyRate(t: Target): Promise<number> {
  const writer = new CacheWriter(t.redis, t.prefix);
  await writer.load();
  const all = changes();
  const started = performance.now();
  for (let i = 0; i < all.length; i += 500) await writer.apply(all.slice(i, i + 500));
  const rate = all.length / ((performance.now() - started) / 1000);
  await writer.markReady(null);
  return rate;
}

async function readRate(t: Target, near: boolean): Promise<number> {
  const direct = new RedisPurchasePackageReader(t.redis, t.prefix);
  let reader: PurchasePackageReader = direct;
  let stop = async () => {};
  if (near) {
    const cache = createNearCache({
      redis: t.config,
      prefix: t.prefix,
      reader: direct,
      settings: { maxBytes: 256 * 1024 ** 2, maxAgeMs: 60_000 },
      registry: new Registry(),
      log: createLogger('bench', 'warn'),
    });
    await cache.feed.start();
    reader = cache.reader;
    stop = () => cache.feed.stop();
  }
  const opts = { limit: 10, cursor: null, token: null };
  // Warm-up: every user once (fills the near cache, loads the scripts everywhere).
  for (let u = 0; u < USERS; u += 50)
    await Promise.all(Array.from({ length: 50 }, (_, i) => reader.read(`u_${u + i}`, opts)));
  let reads = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < deadline; i += concurrency) {
        const r = await reader.read(`u_${i % USERS}`, opts);
        if (r.kind !== 'hit') throw new Error(`read answered ${r.kind}`);
        reads++;
      }
    }),
  );
  await stop();
  return reads / seconds;
}

await stack.run('up');
const clusterUrl = stack.env().REDIS_URL as string;
const prefix = `benchrc${Date.now().toString(36)}`;
const targets: Target[] = [
  { name: 'standalone', config: { redisUrl: standaloneUrl } },
  { name: 'cluster', config: { redisUrl: clusterUrl, redisMode: 'cluster' } },
].map((t) => ({
  ...t,
  config: t.config as RedisConnectionConfig,
  redis: createRedis(t.config as RedisConnectionConfig, { enableAutoPipelining: true }),
  prefix,
}));
const results: Record<string, Record<string, number>> = {};
try {
  for (const t of targets) results[t.name] = { apply: await applyRate(t), readNearOff: 0, readNearOn: 0 };
  // The machine is shared: the modes take turns, and each keeps its best round.
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const r = results[t.name] as Record<string, number>;
      r.readNearOff = Math.max(r.readNearOff ?? 0, await readRate(t, false));
      r.readNearOn = Math.max(r.readNearOn ?? 0, await readRate(t, true));
    }
  }
  for (const t of targets) {
    const r = results[t.name] as Record<string, number>;
    console.log(
      `${t.name.padEnd(10)} apply ${Math.round(r.apply ?? 0)} changes/s   read ${Math.round(r.readNearOff ?? 0)}/s (near cache off)   ${Math.round(r.readNearOn ?? 0)}/s (near cache on)`,
    );
  }
  const s = results.standalone as Record<string, number>;
  const c = results.cluster as Record<string, number>;
  const ratio = (k: string) => ((c[k] ?? 0) / (s[k] ?? 1)).toFixed(2);
  console.log(
    `cluster/standalone: apply ${ratio('apply')}, read near cache off ${ratio('readNearOff')}, near cache on ${ratio('readNearOn')}`,
  );
  console.log(
    `(${USERS} users x ${PURCHASES_PER_USER} purchases, pages of 10, ${concurrency} concurrent reads for ${seconds} s, best of ${ROUNDS} alternating rounds; one machine, ${
      (await import('node:os')).cpus().length
    } cores shared by the client and every Redis process)`,
  );
} finally {
  for (const t of targets) {
    await deleteRedisKeys(t.redis, prefix).catch(() => 0);
    t.redis.disconnect();
  }
  await stack.run('down');
}
