import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { requireEnv, uniqueSuffix } from '../support/env.ts';

const redis = new Redis(requireEnv('REDIS_URL'), { lazyConnect: true });
const prefix = `smoke:${uniqueSuffix()}`;

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('Redis test server', () => {
  it('answers PING and runs Lua atomically', async () => {
    await redis.connect();
    expect(await redis.ping()).toBe('PONG');
    const key = `${prefix}:counter`;
    const script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    await Promise.all(Array.from({ length: 50 }, () => redis.eval(script, 1, key, 2)));
    expect(await redis.get(key)).toBe('100');
  });

  it('never evicts keys (versions and tombstones must survive memory pressure)', async () => {
    const policy = (await redis.config('GET', 'maxmemory-policy')) as string[];
    expect(policy[1]).toBe('noeviction');
  });
});
