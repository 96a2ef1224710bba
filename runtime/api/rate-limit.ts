import { cacheKeys } from '../core/cache/keys.ts';
import { LuaScript } from '../core/cache/lua.ts';
import { isCluster, type RedisClient } from '../core/redis/client.ts';

/**
 * Token leasing over fixed one-minute windows (aligned to the clock, one Redis counter per scope, id
 * and window). The counter holds the tokens GRANTED to replicas in that window; a replica leases a
 * batch when its local bucket runs dry and admits from the bucket without a round trip until then.
 * Redis never grants past the limit, so the limit holds across replicas; a replica's unused tokens are
 * lost to the others (see docs/api.md).
 *
 * The script grants, per key, `min(want, limit - counter)` (never below 0) and adds it to the counter,
 * so the counter never passes the limit; the expiry is set when the grant creates the counter.
 * KEYS = counters; ARGV = expiry in ms, then want and limit per key. Returns the grants in key order.
 */
const LEASE_SOURCE = `
local out = {}
for i = 1, #KEYS do
  local want = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local grant = math.min(want, limit - used)
  if grant > 0 then
    if redis.call('INCRBY', KEYS[i], grant) == grant then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  else
    grant = 0
  end
  out[i] = grant
end
return out
`;
// Same source (and SHA), one per key count: a lease is for one bucket or for both.
const leaseScripts = [new LuaScript(LEASE_SOURCE, 1), new LuaScript(LEASE_SOURCE, 2)] as const;

/** The length of one counting window (a clock-aligned minute). */
export const WINDOW_MS = 60_000;

export type RateDecision =
  | { allowed: true }
  | { allowed: false; scope: 'user' | 'ip'; retryAfterSeconds: number };

/**
 * Decides synchronously while the caller's buckets hold tokens (no Redis call, no promise); a promise
 * only when a bucket has to lease (or wait for a lease in flight). Rejects when the lease fails.
 */
export type RateLimiter = (userId: string | null, ip: string) => RateDecision | Promise<RateDecision>;

export type LeaseRequest = { key: string; want: number; limit: number };

/** One atomic grant for up to two counters (see the script above); resolves to the grants in order. */
export type LeaseFn = (requests: readonly LeaseRequest[]) => Promise<number[]>;

export type RateLimiterOptions = {
  /** Share of the limit leased at a time (rounded up, at least 1). */
  leaseFraction?: number;
  /** Upper bound of one lease. */
  maxLease?: number;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
};

/** The lease on a Redis connection; counters expire after two windows (the current one is then gone). */
export function redisLease(redis: RedisClient): LeaseFn {
  const lease: LeaseFn = async (requests) => {
    // The counters of a user and an IP hash to different cluster slots: one call each there (each
    // counter's grant is independent of the other's, so nothing is lost by splitting).
    if (requests.length > 1 && isCluster(redis))
      return (await Promise.all(requests.map((r) => lease([r])))).flat();
    const script = leaseScripts[requests.length - 1];
    if (!script) throw new Error(`a lease covers 1 or 2 counters, not ${requests.length}`);
    const args: number[] = [WINDOW_MS * 2];
    for (const r of requests) args.push(r.want, r.limit);
    const reply = await script.run(
      redis,
      requests.map((r) => r.key),
      args,
    );
    if (
      !Array.isArray(reply) ||
      reply.length !== requests.length ||
      !reply.every((g) => Number.isInteger(g) && g >= 0)
    ) {
      throw new Error(`unexpected lease reply ${JSON.stringify(reply)}`);
    }
    return reply as number[];
  };
  return lease;
}

type Bucket = {
  /** The window's Redis counter. */
  readonly key: string;
  readonly limit: number;
  readonly want: number;
  /** Granted to this replica and not used yet. */
  tokens: number;
  /** Redis granted less than asked: the window's budget is gone, do not ask again in this window. */
  exhausted: boolean;
  /** The lease in flight for this bucket: requests finding it empty wait on it (single flight). */
  inFlight: Promise<void> | null;
};

const ALLOWED: RateDecision = Object.freeze({ allowed: true });

export function createRateLimiter(
  source: RedisClient | LeaseFn,
  prefix: string,
  limits: { perUserPerMinute: number; perIpPerMinute: number },
  options: RateLimiterOptions = {},
): RateLimiter {
  const lease = typeof source === 'function' ? source : redisLease(source);
  const keys = cacheKeys(prefix);
  const now = options.now ?? Date.now;
  const leaseFraction = options.leaseFraction ?? 1 / 50;
  const maxLease = options.maxLease ?? 1000;
  const userLimit = limits.perUserPerMinute;
  const ipLimit = limits.perIpPerMinute;
  const userWant = leaseSize(userLimit, leaseFraction, maxLease);
  const ipWant = leaseSize(ipLimit, leaseFraction, maxLease);

  // Buckets of the current window only: a new window starts with empty maps, so memory is bounded by
  // the keys active in one window. Requests still waiting on an old window's lease keep their buckets.
  let window = Number.NaN;
  let users = new Map<string, Bucket>();
  let ips = new Map<string, Bucket>();

  function bucketOf(
    map: Map<string, Bucket>,
    scope: 'user' | 'ip',
    id: string,
    w: number,
    limit: number,
    want: number,
  ): Bucket {
    let b = map.get(id);
    if (b === undefined) {
      b = { key: keys.rate(scope, `${id}:${w}`), limit, want, tokens: 0, exhausted: false, inFlight: null };
      map.set(id, b);
    }
    return b;
  }

  function denied(scope: 'user' | 'ip', w: number, t: number): RateDecision {
    const retryAfterSeconds = Math.max(1, Math.ceil(((w + 1) * WINDOW_MS - t) / 1000));
    return { allowed: false, scope, retryAfterSeconds };
  }

  /**
   * Takes one token from each bucket when both have one (all or nothing: a denial by one scope leaves
   * the other's token); a denial once a bucket is empty and its budget gone; null when a lease is due.
   * The address is checked first, as before leasing, so a request refused by both reports `ip`.
   */
  function tryAdmit(user: Bucket | null, addr: Bucket | null, w: number, t: number): RateDecision | null {
    if (addr !== null && addr.tokens === 0 && addr.exhausted) return denied('ip', w, t);
    if (user !== null && user.tokens === 0 && user.exhausted) return denied('user', w, t);
    if ((addr !== null && addr.tokens === 0) || (user !== null && user.tokens === 0)) return null;
    if (addr !== null) addr.tokens--;
    if (user !== null) user.tokens--;
    return ALLOWED;
  }

  /** One script call for every given bucket; clears their `inFlight` before waiters resume. */
  function startLease(buckets: Bucket[]): Promise<void> {
    // A lease function that throws synchronously fails before any bucket is marked in flight.
    const call = lease(buckets.map((b) => ({ key: b.key, want: b.want, limit: b.limit })));
    const flight = call.then(
      (grants) => {
        buckets.forEach((b, i) => {
          const grant = grants[i] ?? 0;
          b.inFlight = null;
          b.tokens += grant;
          // Less than asked means the counter reached the limit: the next lease would grant 0.
          if (grant < b.want) b.exhausted = true;
        });
      },
      (err: unknown) => {
        // Nothing granted, nothing changed: the next request leases again (waiters get the error).
        for (const b of buckets) b.inFlight = null;
        throw err;
      },
    );
    for (const b of buckets) b.inFlight = flight;
    return flight;
  }

  /**
   * Leases what is missing (both buckets in one call, or waits on a lease already in flight), then
   * tries again. Waiters the grant does not cover find the bucket empty and lease next; each round
   * either admits or brings the window's budget closer to exhaustion, so it ends.
   */
  async function admitAfterLease(user: Bucket | null, addr: Bucket | null, w: number): Promise<RateDecision> {
    for (;;) {
      const waits: Promise<void>[] = [];
      const due: Bucket[] = [];
      for (const b of [user, addr]) {
        if (b === null || b.tokens > 0) continue;
        if (b.inFlight !== null) waits.push(b.inFlight);
        else due.push(b);
      }
      if (due.length > 0) waits.push(startLease(due));
      await (waits.length === 1 ? waits[0] : Promise.all(waits));
      const decision = tryAdmit(user, addr, w, now());
      if (decision !== null) return decision;
    }
  }

  return (userId, ip) => {
    const t = now();
    const w = Math.floor(t / WINDOW_MS);
    if (w !== window) {
      window = w;
      users = new Map();
      ips = new Map();
    }
    // A limit of 0 is off; a request without a user (failed authentication) counts against the address.
    const user =
      userLimit > 0 && userId !== null ? bucketOf(users, 'user', userId, w, userLimit, userWant) : null;
    const addr = ipLimit > 0 ? bucketOf(ips, 'ip', ip, w, ipLimit, ipWant) : null;
    return tryAdmit(user, addr, w, t) ?? admitAfterLease(user, addr, w);
  };
}

/** `clamp(ceil(limit × fraction), 1, maxLease)`: a small limit leases one token at a time and stays exact. */
export function leaseSize(limit: number, fraction: number, maxLease: number): number {
  return Math.max(1, Math.min(Math.ceil(limit * fraction), maxLease));
}
