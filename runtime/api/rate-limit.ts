import type { Redis } from 'ioredis';
import { cacheKeys } from '../core/cache/keys.ts';
import { LuaScript } from '../core/cache/lua.ts';

/**
 * Fixed one-minute windows counted in Redis, so limits hold across api replicas. The user's and the
 * client address's counters are bumped in one script call (one round trip per request).
 * Returns per key: count in the current window and the window's remaining ms.
 */
const countScript = new LuaScript(
  `
local out = {}
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  local ttl = redis.call('PTTL', KEYS[i])
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
`,
  2,
);

const WINDOW_MS = 60_000;

export type RateDecision =
  | { allowed: true }
  | { allowed: false; scope: 'user' | 'ip'; retryAfterSeconds: number };

export type RateLimiter = (userId: string | null, ip: string) => Promise<RateDecision>;

export function createRateLimiter(
  redis: Redis,
  prefix: string,
  limits: { perUserPerMinute: number; perIpPerMinute: number },
): RateLimiter {
  const keys = cacheKeys(prefix);
  return async (userId, ip) => {
    const window = Math.floor(Date.now() / WINDOW_MS);
    const userLimit = userId === null ? 0 : limits.perUserPerMinute;
    const ipLimit = limits.perIpPerMinute;
    if (userLimit === 0 && ipLimit === 0) return { allowed: true };
    // Both keys always go in (script takes 2), a disabled limit is simply never compared.
    const reply = (await countScript.run(
      redis,
      [keys.rate('user', `${userId ?? '-'}:${window}`), keys.rate('ip', `${ip}:${window}`)],
      [WINDOW_MS],
    )) as number[];
    const [userCount = 0, userTtl = WINDOW_MS, ipCount = 0, ipTtl = WINDOW_MS] = reply;
    if (ipLimit > 0 && ipCount > ipLimit) {
      return { allowed: false, scope: 'ip', retryAfterSeconds: Math.max(1, Math.ceil(ipTtl / 1000)) };
    }
    if (userLimit > 0 && userCount > userLimit) {
      return { allowed: false, scope: 'user', retryAfterSeconds: Math.max(1, Math.ceil(userTtl / 1000)) };
    }
    return { allowed: true };
  };
}
