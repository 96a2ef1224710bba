/**
 * Redis time of one purchase-package read: `INFO commandstats` (EVALSHA usec per call) over windows of
 * reads, alternating with windows of a trivial script as the baseline of the same moment (Redis is
 * shared and its time is wall time, so a loaded machine inflates both).
 * Usage: node bench/api/redis-time.ts [purchases=20] [calls=2000] [rounds=3]
 */
import { Redis } from 'ioredis';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import { withBenchData } from './stack.ts';

const purchases = Number(process.argv[2] ?? '20');
const calls = Number(process.argv[3] ?? '2000');
const rounds = Number(process.argv[4] ?? '3');

await withBenchData(purchases, async (data) => {
  const redis = new Redis(data.env.REDIS_URL ?? '', { enableAutoPipelining: true });
  try {
    const reader = new RedisPurchasePackageReader(redis, data.env.REDIS_KEY_PREFIX ?? '');
    const opts = { limit: Math.min(purchases, 100), cursor: null, token: null };
    const trivial = String(await redis.script('LOAD', 'return 1'));
    await reader.read(data.userId, opts);
    const evalsha = async () => {
      const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
      return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
    };
    /** µs per EVALSHA in a window of `calls` calls, 16 at a time. */
    const window = async (call: () => Promise<unknown>) => {
      const before = await evalsha();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let i = 0; i < calls / 16; i++) await call();
        }),
      );
      const after = await evalsha();
      return (after.usec - before.usec) / Math.max(1, after.calls - before.calls);
    };
    console.log(`${purchases} purchases, page of ${opts.limit}, ${calls} calls per window`);
    for (let r = 0; r < rounds; r++) {
      const read = await window(() => reader.read(data.userId, opts));
      const base = await window(() => redis.evalsha(trivial, 0));
      console.log(`read script ${read.toFixed(1)} µs/call   trivial script ${base.toFixed(1)} µs/call`);
    }
  } finally {
    redis.disconnect();
  }
});
