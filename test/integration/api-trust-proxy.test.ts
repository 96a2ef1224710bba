import { afterEach, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../../runtime/api/config.ts';
import { errorSchema } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// The per-address rate limit behind a proxy, through the real api: the test client on loopback plays
// the proxy, which appends the address it saw to whatever X-Forwarded-For the client sent. A client
// rewriting the leftmost entry on every request must still land in its one bucket.

const LIMIT = 3;
let api: ApiHarness | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** API_TRUST_PROXY as the operator sets it, through the api's own config schema. */
const trusted = (value: string) =>
  loadApiConfig({
    MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
    REDIS_URL: 'redis://127.0.0.1:6379/0',
    AUTH_JWT_SECRET: 'x'.repeat(32),
    API_TRUST_PROXY: value,
  }).trustProxy;

async function statuses(harness: ApiHarness, forwardedFor: (i: number) => string, n: number) {
  const token = await mintToken(`tp_${uniqueSuffix()}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call(harness.url, 'GET', '/v1/packages', {
      token,
      headers: { 'x-forwarded-for': forwardedFor(i) },
    });
    if (res.status === 429) expect(errorSchema.parse(res.body).error.code).toBe('rate_limited_ip');
    out.push(res.status);
  }
  return out;
}

describe.each([
  ['a CIDR list naming the proxy', '127.0.0.1/32'],
  ['the deprecated true (loopback and private ranges)', 'true'],
])('trusted proxies: %s', (_what, setting) => {
  it('a spoofed leftmost X-Forwarded-For does not get a fresh bucket', async () => {
    api = await startApi({
      rateLimitIpPerMinute: LIMIT,
      rateLimitUserPerMinute: 0,
      trustProxy: trusted(setting),
    });
    const spoofed = await statuses(api, (i) => `203.0.113.${i + 1}, 198.51.100.7`, LIMIT + 2);
    expect(spoofed).toEqual([200, 200, 200, 429, 429]);
    // Another client behind the same proxy has a bucket of its own.
    expect(await statuses(api, () => '198.51.100.8', 1)).toEqual([200]);
  });
});
