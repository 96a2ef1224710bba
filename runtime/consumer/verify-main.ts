import { loadConfig } from '../core/config/env.ts';
import { createPool } from '../core/db/pool.ts';
import { createRedis } from '../core/redis/connect.ts';
import { loadVerifyConfig } from './config.ts';
import { formatMismatch, verifyUntilConsistent } from './verify.ts';

// `make verify`: prints every difference between Redis and MySQL; exit 1 on any, 2 when it cannot run.
// VERIFY_WAIT_SECONDS re-checks for a while first, for a pipeline that is still catching up.
const config = loadConfig('verify', loadVerifyConfig);
try {
  const pool = createPool(config.mysqlUrl, { connectionLimit: 2 });
  const redis = createRedis(config, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  try {
    const mismatches = await verifyUntilConsistent(
      { pool, redis, prefix: config.redisKeyPrefix },
      config.verifyWaitMs,
    );
    for (const m of mismatches) process.stdout.write(`${formatMismatch(m)}\n`);
    process.stdout.write(
      mismatches.length === 0
        ? 'verify: Redis equals MySQL\n'
        : `verify: ${mismatches.length} mismatch(es)\n`,
    );
    process.exitCode = mismatches.length === 0 ? 0 : 1;
  } finally {
    await pool.end();
    redis.disconnect();
  }
} catch (err) {
  process.stderr.write(`verify failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 2;
}
