import { describe, expect, it } from 'vitest';
import {
  createRateLimiter,
  type LeaseFn,
  type LeaseRequest,
  leaseSize,
  type RateDecision,
  type RateLimiterOptions,
} from './rate-limit.ts';

const PREFIX = 'rlunit';
// Mid-window, so a test's requests never straddle a boundary by accident.
const T0 = 1_000 * 60_000 + 20_000;
const W0 = 1_000;
const userKey = (id: string, w = W0) => `${PREFIX}:rl:user:${id}:${w}`;
const ipKey = (ip: string, w = W0) => `${PREFIX}:rl:ip:${ip}:${w}`;

type Call = { requests: LeaseRequest[]; resolve: () => void; reject: (err: Error) => void };

/**
 * Redis stand-in: grants like the script (min(want, limit - counter), counter never past the limit).
 * With `held`, each call waits until the test resolves (or rejects) it.
 */
function fakeRedis(opts: { held?: boolean } = {}) {
  const counters = new Map<string, number>();
  const calls: Call[] = [];
  const lease: LeaseFn = (requests) =>
    new Promise<number[]>((done, fail) => {
      const grant = () =>
        done(
          requests.map((r) => {
            const used = counters.get(r.key) ?? 0;
            const g = Math.max(0, Math.min(r.want, r.limit - used));
            counters.set(r.key, used + g);
            return g;
          }),
        );
      calls.push({ requests: [...requests], resolve: grant, reject: fail });
      if (!opts.held) grant();
    });
  return { lease, counters, calls };
}

function limiter(
  lease: LeaseFn,
  limits: { user: number; ip: number },
  options: RateLimiterOptions & { clock?: { t: number } } = {},
) {
  const clock = options.clock ?? { t: T0 };
  return createRateLimiter(
    lease,
    PREFIX,
    { perUserPerMinute: limits.user, perIpPerMinute: limits.ip },
    { now: () => clock.t, ...options },
  );
}

const isPromise = (d: RateDecision | Promise<RateDecision>): d is Promise<RateDecision> =>
  d instanceof Promise;

/** Lets pending promise callbacks run (several turns: waiters chain on the lease). */
const settle = () => new Promise((r) => setImmediate(r));

describe('lease size', () => {
  it('is ceil(limit × fraction) clamped to [1, maxLease]', () => {
    expect(leaseSize(3, 1 / 50, 1000)).toBe(1);
    expect(leaseSize(1, 1 / 50, 1000)).toBe(1);
    expect(leaseSize(1200, 1 / 50, 1000)).toBe(24);
    expect(leaseSize(6000, 1 / 50, 1000)).toBe(120);
    expect(leaseSize(100_000, 1 / 50, 1000)).toBe(1000);
    expect(leaseSize(1201, 1 / 50, 1000)).toBe(25);
    expect(leaseSize(100, 1 / 10, 5)).toBe(5);
  });

  it('is what the limiter asks Redis for, per scope, with the defaults and with options', async () => {
    const redis = fakeRedis();
    await limiter(redis.lease, { user: 1200, ip: 3 })('u1', '10.0.0.1');
    expect(redis.calls[0]?.requests).toEqual([
      { key: userKey('u1'), want: 24, limit: 1200 },
      { key: ipKey('10.0.0.1'), want: 1, limit: 3 },
    ]);
    const custom = fakeRedis();
    await limiter(custom.lease, { user: 1200, ip: 0 }, { leaseFraction: 1 / 10, maxLease: 50 })('u1', 'x');
    expect(custom.calls[0]?.requests).toEqual([{ key: userKey('u1'), want: 50, limit: 1200 }]);
  });
});

describe('local admission', () => {
  it('admits from the leased tokens synchronously, without calling Redis', async () => {
    const redis = fakeRedis();
    const limit = limiter(redis.lease, { user: 1200, ip: 6000 });
    // The first request leases both buckets in ONE call.
    const first = limit('u1', '10.0.0.1');
    expect(isPromise(first)).toBe(true);
    expect(await first).toEqual({ allowed: true });
    expect(redis.calls).toHaveLength(1);
    expect(redis.calls[0]?.requests.map((r) => r.key)).toEqual([userKey('u1'), ipKey('10.0.0.1')]);
    // The user's lease is 24: 23 more decide on the spot.
    for (let i = 0; i < 23; i++) {
      const d = limit('u1', '10.0.0.1');
      expect(isPromise(d)).toBe(false);
      expect(d).toEqual({ allowed: true });
    }
    expect(redis.calls).toHaveLength(1);
    // The 25th needs the user's next lease only (the address still holds 120 − 24 tokens).
    expect(await limit('u1', '10.0.0.1')).toEqual({ allowed: true });
    expect(redis.calls).toHaveLength(2);
    expect(redis.calls[1]?.requests.map((r) => r.key)).toEqual([userKey('u1')]);
    expect(redis.counters.get(userKey('u1'))).toBe(48);
    expect(redis.counters.get(ipKey('10.0.0.1'))).toBe(120);
  });

  it('leaves a limit of 0 off, and counts a request without a user against the address only', async () => {
    const redis = fakeRedis();
    const off = limiter(redis.lease, { user: 0, ip: 0 });
    expect(off('u1', '10.0.0.1')).toEqual({ allowed: true });
    expect(redis.calls).toHaveLength(0);
    const limit = limiter(redis.lease, { user: 10, ip: 10 });
    expect(await limit(null, '10.0.0.2')).toEqual({ allowed: true });
    expect(redis.calls[0]?.requests.map((r) => r.key)).toEqual([ipKey('10.0.0.2')]);
    const userOnly = limiter(redis.lease, { user: 10, ip: 0 });
    await userOnly('u9', '10.0.0.3');
    expect(redis.calls[1]?.requests.map((r) => r.key)).toEqual([userKey('u9')]);
  });
});

describe('single flight', () => {
  it('requests finding a bucket empty wait on the lease in flight, then the uncovered ones lease next', async () => {
    const redis = fakeRedis({ held: true });
    // User lease 10 (500/50); the address is off so only the user's bucket matters.
    const limit = limiter(redis.lease, { user: 500, ip: 0 });
    const decisions = Array.from({ length: 25 }, () => limit('u1', '10.0.0.1'));
    expect(decisions.every(isPromise)).toBe(true);
    expect(redis.calls).toHaveLength(1);
    const results: RateDecision[] = [];
    for (const d of decisions) void Promise.resolve(d).then((r) => results.push(r));

    redis.calls[0]?.resolve();
    await settle();
    // 10 admitted from the grant; one of the 15 left started the next lease, the others wait on it.
    expect(results).toHaveLength(10);
    expect(redis.calls).toHaveLength(2);
    redis.calls[1]?.resolve();
    await settle();
    expect(results).toHaveLength(20);
    expect(redis.calls).toHaveLength(3);
    redis.calls[2]?.resolve();
    await settle();
    expect(results).toHaveLength(25);
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(redis.calls).toHaveLength(3);
    expect(redis.counters.get(userKey('u1'))).toBe(30);
  });

  it('a request whose user and address buckets are both empty leases both in one call', async () => {
    const redis = fakeRedis({ held: true });
    const limit = limiter(redis.lease, { user: 3, ip: 3 });
    const a = limit('u1', '10.0.0.1');
    const b = limit('u1', '10.0.0.1');
    expect(redis.calls).toHaveLength(1);
    expect(redis.calls[0]?.requests).toHaveLength(2);
    redis.calls[0]?.resolve();
    expect(await a).toEqual({ allowed: true });
    await settle();
    // b was not covered (leases of 1): it leased both again, in one call.
    expect(redis.calls).toHaveLength(2);
    expect(redis.calls[1]?.requests).toHaveLength(2);
    redis.calls[1]?.resolve();
    expect(await b).toEqual({ allowed: true });
  });
});

describe('denial', () => {
  it('denies once Redis grants 0, and then without asking again in that window', async () => {
    const redis = fakeRedis();
    const clock = { t: T0 };
    const limit = limiter(redis.lease, { user: 3, ip: 1000 }, { clock });
    for (let i = 0; i < 3; i++) expect(await limit('u1', '10.0.0.1')).toEqual({ allowed: true });
    const callsBefore = redis.calls.length;
    expect(await limit('u1', '10.0.0.1')).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 40 });
    expect(redis.calls.length).toBe(callsBefore + 1);
    clock.t += 15_500;
    for (let i = 0; i < 5; i++) {
      const d = limit('u1', '10.0.0.1');
      expect(isPromise(d)).toBe(false);
      expect(d).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 25 });
    }
    expect(redis.calls.length).toBe(callsBefore + 1);
    expect(redis.counters.get(userKey('u1'))).toBe(3);
  });

  it('a partial grant uses its tokens, then denies without another call', async () => {
    const redis = fakeRedis();
    redis.counters.set(userKey('u1'), 495); // another replica took most of the budget
    const limit = limiter(redis.lease, { user: 500, ip: 0 });
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 8; i++) decisions.push(await limit('u1', 'x'));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.slice(5).every((d) => !d.allowed)).toBe(true);
    expect(redis.calls).toHaveLength(1);
  });

  it("a user's denial does not consume the address's token", async () => {
    const redis = fakeRedis();
    // User lease 1 (exact), address lease 2.
    const limit = limiter(redis.lease, { user: 1, ip: 100 });
    expect(await limit('u1', '10.0.0.1')).toEqual({ allowed: true }); // address: 1 token left
    expect(await limit('u1', '10.0.0.1')).toMatchObject({ allowed: false, scope: 'user' });
    expect(await limit('u1', '10.0.0.1')).toMatchObject({ allowed: false, scope: 'user' });
    // The address's remaining token serves another user: that call leases the user's bucket only.
    const calls = redis.calls.length;
    expect(await limit('u2', '10.0.0.1')).toEqual({ allowed: true });
    expect(redis.calls.slice(calls).map((c) => c.requests.map((r) => r.key))).toEqual([[userKey('u2')]]);
    expect(redis.counters.get(ipKey('10.0.0.1'))).toBe(2);
  });

  it("a user refused in the same lease call as the address's grant leaves those tokens", async () => {
    const redis = fakeRedis();
    redis.counters.set(userKey('u1'), 1); // the user's budget is already gone elsewhere
    const limit = limiter(redis.lease, { user: 1, ip: 100 });
    expect(await limit('u1', '10.0.0.1')).toMatchObject({ allowed: false, scope: 'user' });
    expect(redis.calls[0]?.requests).toHaveLength(2);
    // Both of the address's granted tokens are still there: two requests, no call.
    const calls = redis.calls.length;
    expect(await limit('u2', '10.0.0.1')).toEqual({ allowed: true });
    expect(redis.calls.slice(calls).map((c) => c.requests.map((r) => r.key))).toEqual([[userKey('u2')]]);
    expect(await limit('u3', '10.0.0.1')).toEqual({ allowed: true });
    expect(redis.calls.slice(calls + 1).map((c) => c.requests.map((r) => r.key))).toEqual([[userKey('u3')]]);
    expect(redis.counters.get(ipKey('10.0.0.1'))).toBe(2);
  });

  it("an address's denial does not consume the user's token", async () => {
    const redis = fakeRedis();
    // Address lease 1 (exact), user lease 2.
    const limit = limiter(redis.lease, { user: 100, ip: 1 });
    expect(await limit('u1', '10.0.0.1')).toEqual({ allowed: true }); // user: 1 token left
    expect(await limit('u1', '10.0.0.1')).toMatchObject({ allowed: false, scope: 'ip' });
    // From another address the user's last token is still there: only the address leases.
    const calls = redis.calls.length;
    expect(await limit('u1', '10.0.0.2')).toEqual({ allowed: true });
    expect(redis.calls.slice(calls).map((c) => c.requests.map((r) => r.key))).toEqual([[ipKey('10.0.0.2')]]);
    expect(redis.counters.get(userKey('u1'))).toBe(2);
  });
});

describe('window rollover', () => {
  it('starts the next window with fresh buckets on the next counter', async () => {
    const redis = fakeRedis();
    const clock = { t: T0 };
    const limit = limiter(redis.lease, { user: 2, ip: 0 }, { clock });
    expect(await limit('u1', 'x')).toEqual({ allowed: true });
    expect(await limit('u1', 'x')).toEqual({ allowed: true });
    expect(await limit('u1', 'x')).toMatchObject({ allowed: false }); // the 0 grant
    expect(limit('u1', 'x')).toMatchObject({ allowed: false }); // then local
    clock.t = (W0 + 1) * 60_000; // the first ms of the next window
    const d = limit('u1', 'x');
    expect(isPromise(d)).toBe(true); // the old window's (exhausted) bucket is gone
    expect(await d).toEqual({ allowed: true });
    expect(redis.calls.at(-1)?.requests.map((r) => r.key)).toEqual([userKey('u1', W0 + 1)]);
    expect(redis.counters.get(userKey('u1', W0))).toBe(2);
    expect(redis.counters.get(userKey('u1', W0 + 1))).toBe(1);
  });

  it("does not carry a window's unused tokens into the next", async () => {
    const redis = fakeRedis();
    const clock = { t: T0 };
    const limit = limiter(redis.lease, { user: 500, ip: 0 }, { clock });
    await limit('u1', 'x'); // leases 10, uses 1
    expect(isPromise(limit('u1', 'x'))).toBe(false);
    clock.t += 60_000;
    expect(isPromise(limit('u1', 'x'))).toBe(true);
    expect(redis.calls).toHaveLength(2);
  });
});

describe('lease errors', () => {
  it('reject every waiter (none hangs) and leave the bucket usable', async () => {
    const redis = fakeRedis({ held: true });
    const limit = limiter(redis.lease, { user: 500, ip: 500 });
    const waiting = Array.from({ length: 5 }, () => limit('u1', '10.0.0.1'));
    expect(redis.calls).toHaveLength(1);
    redis.calls[0]?.reject(new Error('ECONNRESET'));
    const outcomes = await Promise.race([
      Promise.allSettled(waiting),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 500)),
    ]);
    expect(outcomes).not.toBe('hung');
    expect((outcomes as PromiseSettledResult<RateDecision>[]).map((o) => o.status)).toEqual(
      Array(5).fill('rejected'),
    );
    expect(redis.calls).toHaveLength(1);
    // Not poisoned: the next request leases again and is admitted.
    const next = limit('u1', '10.0.0.1');
    expect(redis.calls).toHaveLength(2);
    redis.calls[1]?.resolve();
    expect(await next).toEqual({ allowed: true });
    expect(limit('u1', '10.0.0.1')).toEqual({ allowed: true });
  });

  it('a lease function that throws synchronously rejects the decision and is retried next time', async () => {
    let fail = true;
    const redis = fakeRedis();
    const lease: LeaseFn = (requests) => {
      if (fail) throw new Error('boom');
      return redis.lease(requests);
    };
    const limit = limiter(lease, { user: 5, ip: 0 });
    await expect(limit('u1', 'x')).rejects.toThrow('boom');
    fail = false;
    expect(await limit('u1', 'x')).toEqual({ allowed: true });
  });
});
