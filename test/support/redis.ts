import type { Redis } from 'ioredis';

/** Deletes every key under one prefix (a FLUSHDB limited to it: the test Redis is shared). */
export async function deleteRedisKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (found.length) deleted += await redis.del(...found);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}
