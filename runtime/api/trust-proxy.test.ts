import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { deprecatedSettings, loadApiConfig } from './config.ts';
import { isAddressOrCidr, PRIVATE_PROXY_RANGES } from './trust-proxy.ts';

const base = {
  MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  AUTH_JWT_SECRET: 'x'.repeat(32),
};

/** The address fastify assigns a request from `peer` with this X-Forwarded-For, under the setting. */
async function clientIp(setting: string | undefined, peer: string, forwardedFor?: string): Promise<string> {
  const trust = loadApiConfig({ ...base, API_TRUST_PROXY: setting }).trustProxy;
  const app = Fastify({ trustProxy: trust.length ? trust : false });
  app.get('/', (req) => ({ ip: req.ip }));
  const res = await app.inject({
    url: '/',
    remoteAddress: peer,
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  });
  await app.close();
  return (res.json() as { ip: string }).ip;
}

describe('trusted proxies', () => {
  it('the client is the rightmost hop that is not a trusted proxy', async () => {
    const trusted = '10.0.0.0/8, 192.0.2.10';
    expect(await clientIp(trusted, '10.1.2.3', '198.51.100.7')).toBe('198.51.100.7');
    // A client-written leftmost entry is ignored: its own proxy appended the real address.
    expect(await clientIp(trusted, '10.1.2.3', '1.2.3.4, 198.51.100.7')).toBe('198.51.100.7');
    // Two trusted hops (an edge proxy, then an ingress) are walked past.
    expect(await clientIp(trusted, '10.1.2.3', '1.2.3.4, 198.51.100.7, 192.0.2.10')).toBe('198.51.100.7');
    // A peer that is not trusted is the client, whatever it forwards.
    expect(await clientIp(trusted, '203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
  });

  it('trusts none by default or with false', async () => {
    expect(await clientIp(undefined, '10.1.2.3', '1.2.3.4')).toBe('10.1.2.3');
    expect(await clientIp('false', '10.1.2.3', '1.2.3.4')).toBe('10.1.2.3');
    expect(await clientIp('', '10.1.2.3', '1.2.3.4')).toBe('10.1.2.3');
  });

  it('the deprecated true trusts loopback and private ranges only, never the client-written leftmost hop', async () => {
    expect(loadApiConfig({ ...base, API_TRUST_PROXY: 'true' }).trustProxy).toEqual([...PRIVATE_PROXY_RANGES]);
    expect(await clientIp('true', '127.0.0.1', '1.2.3.4, 198.51.100.7')).toBe('198.51.100.7');
    expect(await clientIp('true', '172.20.0.5', '1.2.3.4, 10.9.9.9, 198.51.100.7, 10.0.0.2')).toBe(
      '198.51.100.7',
    );
    // A public peer is not a proxy even under `true`.
    expect(await clientIp('true', '203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
  });

  it('warns about the boolean spelling only', () => {
    expect(deprecatedSettings({ API_TRUST_PROXY: 'true' })).toEqual([expect.stringMatching(/deprecated/)]);
    expect(deprecatedSettings({ API_TRUST_PROXY: '10.0.0.0/8' })).toEqual([]);
    expect(deprecatedSettings({ API_TRUST_PROXY: 'false' })).toEqual([]);
    expect(deprecatedSettings({})).toEqual([]);
  });

  it('refuses entries that are not addresses or CIDR blocks', () => {
    for (const bad of ['10.0.0.0/33', '::1/129', 'proxy.internal', '10.0.0.0/8/1', '10.0.0.0/x']) {
      expect(isAddressOrCidr(bad)).toBe(false);
      expect(() => loadApiConfig({ ...base, API_TRUST_PROXY: `127.0.0.1,${bad}` })).toThrow(
        /API_TRUST_PROXY/,
      );
    }
    for (const good of ['10.0.0.0/8', '192.0.2.1', '::1', 'fd00::/8'])
      expect(isAddressOrCidr(good)).toBe(true);
  });
});
