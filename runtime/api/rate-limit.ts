import type { Redis } from 'ioredis';
import { cacheKeys } from '../core/cache/keys.ts';
import { LuaScript } from '../core/cache/lua.ts';

/**
 * Fixed one-minute windows (aligned to the clock, one key per window) counted in Redis, so limits hold
 * across api replicas. The user's and the client address's counters are bumped in one script call:
 * one round trip per request. Returns the two counts.
 */
const countScript = new LuaScript(
  `
local out = {}
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  out[i] = n
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
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const retryAfterSeconds = Math.max(1, Math.ceil((WINDOW_MS - (now % WINDOW_MS)) / 1000));
    const userLimit = userId === null ? 0 : limits.perUserPerMinute;
    const ipLimit = limits.perIpPerMinute;
    if (userLimit === 0 && ipLimit === 0) return { allowed: true };
    // Both keys always go in (script takes 2), a disabled limit is simply never compared.
    const reply = (await countScript.run(
      redis,
      [keys.rate('user', `${userId ?? '-'}:${window}`), keys.rate('ip', `${ip}:${window}`)],
      [WINDOW_MS * 2],
    )) as number[];
    const [userCount = 0, ipCount = 0] = reply;
    if (ipLimit > 0 && ipCount > ipLimit) return { allowed: false, scope: 'ip', retryAfterSeconds };
    if (userLimit > 0 && userCount > userLimit) return { allowed: false, scope: 'user', retryAfterSeconds };
    return { allowed: true };
  };
}
