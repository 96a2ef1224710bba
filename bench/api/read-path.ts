/**
 * The purchase-package read path without HTTP: reads/s at 64 concurrent callers and serial latency,
 * from Redis and from MySQL, so HTTP overhead and data-source cost can be told apart.
 * Usage: node bench/api/read-path.ts [seconds=3] [concurrency=64]
 */
import { packageRouteParts, withBenchData } from './stack.ts';

const seconds = Number(process.argv[2] ?? '3');
const concurrency = Number(process.argv[3] ?? '64');

await withBenchData(20, async (data) => {
  Object.assign(process.env, data.env);
  for (const source of ['redis', 'mysql'] as const) {
    const parts = packageRouteParts(source);
    const q = { limit: 20, cursor: undefined, consistency_token: undefined };
    try {
      await parts.readPackage(data.userId, q);
      let reads = 0;
      const end = performance.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < end) {
            await parts.readPackage(data.userId, q);
            reads++;
          }
        }),
      );
      const start = performance.now();
      for (let i = 0; i < 300; i++) await parts.readPackage(data.userId, q);
      const serialUs = ((performance.now() - start) / 300) * 1000;
      console.log(
        `${source}: ${Math.round(reads / seconds)} reads/s at ${concurrency} concurrent, ${Math.round(serialUs)} µs serial`,
      );
    } finally {
      await parts.pool.end();
      await parts.redis.quit();
    }
  }
});
