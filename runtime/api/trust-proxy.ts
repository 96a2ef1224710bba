import { isIP } from 'node:net';
import { z } from 'zod';

// Which peers may tell us the client's address. The client address is the rightmost hop of
// X-Forwarded-For that is not a trusted proxy (fastify's proxy-addr walks the chain from the socket
// back): a client can prepend whatever it likes, but only the hop its proxy appended counts. Trusting
// every peer (the old `true`) made the leftmost, client-written entry the address, so a client chose
// its own per-IP rate-limit bucket.

/** What the deprecated boolean `true` means now: proxies on loopback and private networks only. */
export const PRIVATE_PROXY_RANGES: readonly string[] = Object.freeze([
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
  '169.254.0.0/16',
  'fe80::/10',
]);

const LEGACY_TRUE = new Set(['true', '1', 'yes']);
const LEGACY_FALSE = new Set(['false', '0', 'no', '']);

/** True for the old boolean spelling `true` / `1` / `yes` (kept working, with a warning). */
export function isLegacyTrustProxy(raw: string | undefined): boolean {
  return raw !== undefined && LEGACY_TRUE.has(raw.trim().toLowerCase());
}

/** An IPv4/IPv6 address or CIDR block with a prefix length its family allows. */
export function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * `API_TRUST_PROXY`: a comma-separated list of trusted proxy addresses / CIDR blocks; empty or
 * `false` trusts none (the socket's peer is the client); `true` is the deprecated boolean and means
 * PRIVATE_PROXY_RANGES.
 */
export const trustProxySetting = z.string().transform((raw, ctx) => {
  const value = raw.trim().toLowerCase();
  if (LEGACY_FALSE.has(value)) return [] as string[];
  if (LEGACY_TRUE.has(value)) return [...PRIVATE_PROXY_RANGES];
  const entries = raw
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  for (const entry of entries) {
    if (!isAddressOrCidr(entry)) {
      ctx.addIssue({ code: 'custom', message: `not an IP address or CIDR block: ${entry}` });
      return z.NEVER;
    }
  }
  return entries;
});
