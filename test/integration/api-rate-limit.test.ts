import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createRateLimiter,
  type LeaseFn,
  type RateDecision,
  type RateLimiter,
  redisLease,
} from '../../runtime/api/rate-limit.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { call, startApi } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';
import { deleteRedisKeys } from '../support/redis.ts';

// Each limiter is one api replica, on its own connection, against the real Redis of the test stack.
const connections: Redis[] = [];
const prefix = `rltest_${uniqueSuffix()}`;
const keys = cacheKeys(prefix);
const admin = new Redis(requireEnv('REDIS_URL'));

afterAll(async () => {
  await deleteRedisKeys(admin, prefix);
  await Promise.all([admin, ...connections].map((c) => c.quit()));
});

// An injected clock mid-window: 2,000 requests never straddle a boundary, however slow the machine.
const WINDOW = Math.floor(Date.now() / 60_000);
const MID_WINDOW = WINDOW * 60_000 + 30_000;

/** A replica whose lease records every grant per counter (to compare with Redis). */
function replica(limits: { user: number; ip: number }, clock: { t: number } = { t: MID_WINDOW }) {
  const redis = new Redis(requireEnv('REDIS_URL'));
  connections.push(redis);
  const base = redisLease(redis);
  const granted = new Map<string, number>();
  let calls = 0;
  const lease: LeaseFn = async (requests) => {
    calls++;
    const grants = await base(requests);
    requests.forEach((r, i) => {
      granted.set(r.key, (granted.get(r.key) ?? 0) + (grants[i] ?? 0));
    });
    return grants;
  };
  const limit = createRateLimiter(
    lease,
    prefix,
    { perUserPerMinute: limits.user, perIpPerMinute: limits.ip },
    { now: () => clock.t },
  );
  return { limit, granted, calls: () => calls };
}

async function run(requests: { limit: RateLimiter; user: string; ip: string }[]): Promise<RateDecision[]> {
  // All issued in the same tick: they meet the leases in flight, as concurrent requests would.
  return Promise.all(requests.map((r) => r.limit(r.user, r.ip)));
}

const counter = async (key: string) => Number((await admin.get(key)) ?? 0);

describe('token leasing against Redis', () => {
  it('two replicas sharing 2,000 concurrent requests of one user admit at most the limit', async () => {
    const user = `u_${uniqueSuffix()}`;
    const limits = { user: 500, ip: 1_000_000 };
    const a = replica(limits);
    const b = replica(limits);
    const decisions = await run(
      Array.from({ length: 2000 }, (_, i) => ({
        limit: i % 2 === 0 ? a.limit : b.limit,
        user,
        ip: `10.0.0.${i % 4}`,
      })),
    );
    const admitted = decisions.filter((d) => d.allowed).length;
    const lease = Math.ceil(500 / 50);
    expect(admitted).toBeLessThanOrEqual(500);
    expect(admitted).toBeGreaterThanOrEqual(500 - lease);
    for (const d of decisions) if (!d.allowed) expect(d.scope).toBe('user');
    // Both replicas took part, and Redis counted exactly the tokens it granted them.
    const userKey = keys.rate('user', `${user}:${WINDOW}`);
    expect(a.granted.get(userKey)).toBeGreaterThan(0);
    expect(b.granted.get(userKey)).toBeGreaterThan(0);
    expect(await counter(userKey)).toBe((a.granted.get(userKey) ?? 0) + (b.granted.get(userKey) ?? 0));
    expect(await counter(userKey)).toBeLessThanOrEqual(500);
    for (let i = 0; i < 4; i++) {
      const ipKey = keys.rate('ip', `10.0.0.${i}:${WINDOW}`);
      expect(await counter(ipKey)).toBe((a.granted.get(ipKey) ?? 0) + (b.granted.get(ipKey) ?? 0));
    }
    // Leased, not counted per request: far fewer calls than requests.
    expect(a.calls() + b.calls()).toBeLessThan(200);
    const ttl = await admin.pttl(userKey);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('one replica alone admits exactly the limit', async () => {
    const user = `u_${uniqueSuffix()}`;
    const one = replica({ user: 500, ip: 0 });
    const decisions = await run(
      Array.from({ length: 2000 }, () => ({ limit: one.limit, user, ip: '10.0.1.1' })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(500);
    const userKey = keys.rate('user', `${user}:${WINDOW}`);
    expect(await counter(userKey)).toBe(500);
    expect(one.granted.get(userKey)).toBe(500);
    // The budget is gone: the replica refuses without asking Redis again.
    const calls = one.calls();
    const late = one.limit(user, '10.0.1.1');
    expect(late).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 30 });
    expect(one.calls()).toBe(calls);
  });

  it('a new window (injected clock) starts from a fresh counter', async () => {
    const user = `u_${uniqueSuffix()}`;
    const clock = { t: MID_WINDOW };
    const r = replica({ user: 5, ip: 0 }, clock);
    const round = () => run(Array.from({ length: 8 }, () => ({ limit: r.limit, user, ip: '10.0.2.1' })));
    expect((await round()).filter((d) => d.allowed)).toHaveLength(5);
    clock.t = (WINDOW + 1) * 60_000 + 1_000;
    const next = await round();
    expect(next.filter((d) => d.allowed)).toHaveLength(5);
    expect(next.find((d) => !d.allowed)).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 59 });
    expect(await counter(keys.rate('user', `${user}:${WINDOW}`))).toBe(5);
    expect(await counter(keys.rate('user', `${user}:${WINDOW + 1}`))).toBe(5);
  });

  it('grants nothing past the limit even when a counter is already over it', async () => {
    const user = `u_${uniqueSuffix()}`;
    const key = keys.rate('user', `${user}:${WINDOW}`);
    // A counter left by the per-request limiter (it counted refusals too) can exceed the limit.
    await admin.set(key, 7, 'PX', 60_000);
    const lease = redisLease(admin);
    expect(await lease([{ key, want: 3, limit: 5 }])).toEqual([0]);
    expect(await counter(key)).toBe(7);
    const other = keys.rate('ip', `10.0.3.1:${WINDOW}`);
    expect(
      await lease([
        { key: other, want: 4, limit: 6 },
        { key, want: 1, limit: 9 },
      ]),
    ).toEqual([4, 1]);
    expect(await lease([{ key: other, want: 4, limit: 6 }])).toEqual([2]);
    expect(await counter(other)).toBe(6);
  });
});

describe('the api with the leasing limiter', () => {
  it('lets requests through and counts the error when Redis cannot lease, then leases again', async () => {
    const api = await startApi({ rateLimitUserPerMinute: 3, rateLimitIpPerMinute: 1000 });
    try {
      const token = await mintToken(`rlapi_${uniqueSuffix()}`);
      api.redis.disconnect();
      for (let i = 0; i < 5; i++) {
        expect((await call(api.url, 'GET', '/v1/packages', { token })).status).toBe(200);
      }
      const metrics = (await call(api.opsUrl, 'GET', '/metrics')).text;
      expect(metrics).toMatch(/^api_rate_limiter_errors_total 5$/m);
      // Back: no bucket was left waiting on the failed leases, the limit applies again.
      await api.redis.connect();
      const msLeft = 60_000 - (Date.now() % 60_000);
      if (msLeft < 3000) await new Promise((r) => setTimeout(r, msLeft + 100));
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await call(api.url, 'GET', '/v1/packages', { token })).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await api.close();
    }
  });
});
