import { CacheWriter } from '../core/cache/writer.ts';
import { loadConfig } from '../core/config/env.ts';
import { createPool } from '../core/db/pool.ts';
import { createRedis } from '../core/redis/connect.ts';
import { loadToolConfig } from './config.ts';
import { progressBar } from './progress.ts';
import { rebuildCache } from './rebuild.ts';

// `make rebuild`: repopulate Redis from MySQL (new or flushed Redis); safe while the consumer runs.
const config = loadConfig('rebuild', loadToolConfig);
try {
  const pool = createPool(config.mysqlUrl, { connectionLimit: 2 });
  const redis = createRedis(config, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  try {
    const writer = new CacheWriter(redis, config.redisKeyPrefix);
    await writer.load();
    const result = await rebuildCache({
      pool,
      redis,
      writer,
      prefix: config.redisKeyPrefix,
      progress: progressBar(),
    });
    process.stdout.write(`${JSON.stringify({ rebuilt: result })}\n`);
  } finally {
    await pool.end();
    redis.disconnect();
  }
} catch (err) {
  process.stderr.write(`rebuild failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 1;
}
