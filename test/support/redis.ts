import { type RedisClient, scanKeys } from '../../runtime/core/redis/client.ts';

/**
 * Deletes every key under one prefix (a FLUSHDB limited to it: the test Redis is shared), on every
 * master of a cluster. One DEL per key there: a multi-key DEL must stay inside one slot.
 */
export async function deleteRedisKeys(redis: RedisClient, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const found of scanKeys(redis, `${prefix}:*`)) {
    const counts = await Promise.all(found.map((key) => redis.del(key)));
    deleted += counts.reduce((a, b) => a + b, 0);
  }
  return deleted;
}
