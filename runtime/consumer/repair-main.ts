import { repairUser } from '../core/cache/repair.ts';
import { CacheWriter } from '../core/cache/writer.ts';
import { loadConfig } from '../core/config/env.ts';
import { createPool } from '../core/db/pool.ts';
import { createRedis } from '../core/redis/connect.ts';
import { loadRepairConfig } from './config.ts';

// `make repair USER_ID=alice`: rebuilds one user's cache from MySQL (version-guarded, safe while the
// consumer runs); prints what it wrote. Exit 2 when it cannot run.
const config = loadConfig('repair', loadRepairConfig);
try {
  const pool = createPool(config.mysqlUrl, { connectionLimit: 2 });
  const redis = createRedis(config, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  try {
    const result = await repairUser({
      pool,
      redis,
      writer: new CacheWriter(redis, config.redisKeyPrefix),
      prefix: config.redisKeyPrefix,
      userId: config.userId,
    });
    process.stdout.write(`${JSON.stringify({ repaired: result })}\n`);
  } finally {
    await pool.end();
    redis.disconnect();
  }
} catch (err) {
  process.stderr.write(`repair failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 2;
}
