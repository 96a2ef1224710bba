import { afterEach, describe, expect, it } from 'vitest';
import type { Pool } from '../../runtime/core/db/pool.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// Ops routes apart from the public port, as the producer and consumer serve them: /metrics and
// /readyz only on the ops server; the public port keeps /healthz (load balancers) and the API
// reference, rate-limited; readiness probes cost at most one pool query per second however many come.

let api: ApiHarness | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** The pool as the app sees it, counting the queries it is asked for. */
function countingPool(pool: Pool, counter: { queries: number }): Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (...args: Parameters<Pool['query']>) => {
          counter.queries++;
          return target.query(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('ops port', () => {
  it('/metrics and /readyz are on the ops port only; /healthz on both', async () => {
    api = await startApi();
    const token = await mintToken(`ops_${uniqueSuffix()}`);
    expect((await call(api.url, 'GET', '/v1/packages', { token })).status).toBe(200);

    for (const path of ['/metrics', '/readyz']) {
      const res = await call(api.url, 'GET', path);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: { code: 'route_not_found' } });
    }
    expect((await call(api.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });

    expect((await call(api.opsUrl, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
    expect((await call(api.opsUrl, 'GET', '/healthz')).status).toBe(200);
    const metrics = await call(api.opsUrl, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('route="/v1/packages"');
  });

  it('the deprecated publicOpsRoutes serves them on the public port too', async () => {
    api = await startApi({ publicOpsRoutes: true });
    expect((await call(api.url, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
    expect((await call(api.url, 'GET', '/metrics')).text).toContain('http_request_duration_seconds');
  });

  it('/docs and /openapi.json are rate-limited per address', async () => {
    api = await startApi({ rateLimitIpPerMinute: 3 });
    const statuses: number[] = [];
    for (const path of ['/openapi.json', '/docs', '/openapi.json', '/docs']) {
      statuses.push((await call(api.url, 'GET', path)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Liveness is never limited: a load balancer probing often must not see it fail.
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('readiness probe', () => {
  it('takes at most one pool query per second, whatever the probe rate', async () => {
    const counter = { queries: 0 };
    api = await startApi({ publicOpsRoutes: true }, { wrapPool: (pool) => countingPool(pool, counter) });
    const harness = api;
    for (const base of [harness.url, harness.opsUrl]) {
      counter.queries = 0;
      const probes = await Promise.all(
        Array.from({ length: 50 }, () => call(base, 'GET', '/readyz').then((r) => r.status)),
      );
      for (let i = 0; i < 20; i++) probes.push((await call(base, 'GET', '/readyz')).status);
      expect(probes.every((s) => s === 200)).toBe(true);
      expect(counter.queries).toBeLessThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 1100));
    }
    // Past the cache, a probe checks again.
    counter.queries = 0;
    expect((await call(harness.opsUrl, 'GET', '/readyz')).status).toBe(200);
    expect(counter.queries).toBe(1);
  });
});
