import { readFileSync } from 'node:fs';

/**
 * TLS to MySQL/MariaDB, from the connection URL's query (the names of the mysql client's options, so
 * a managed service's documented settings carry over):
 *   ?ssl-mode=VERIFY_IDENTITY&ssl-ca=/path/ca.pem[&ssl-cert=/path/client.pem&ssl-key=/path/client.key]
 * ssl-mode: DISABLED (the default without ssl-* parameters), VERIFY_CA (the certificate must chain to
 * ssl-ca), VERIFY_IDENTITY (verify-full: also the host name; the default as soon as any ssl-*
 * parameter is given). No ssl-ca: the system's trust store (as for Aurora/RDS/Cloud SQL bundles
 * installed there). Every connection is built from a URL (pool, binlog stream, snapshot, lock, the
 * operator's position checks), so every one of them gets the same TLS settings.
 */
export type MysqlTls = {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: true;
  verifyIdentity: boolean;
};

const MODES = ['DISABLED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;

/** The URL's TLS settings (files read once per URL), or undefined for a plaintext connection. */
export function mysqlTlsOf(url: URL): MysqlTls | undefined {
  const q = url.searchParams;
  const given = ['ssl-mode', 'ssl-ca', 'ssl-cert', 'ssl-key'].some((k) => q.has(k));
  if (!given) return undefined;
  const mode = (q.get('ssl-mode') ?? 'VERIFY_IDENTITY').toUpperCase();
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new Error(`MySQL URL: ssl-mode must be one of ${MODES.join(', ')} (got ${mode})`);
  }
  if (mode === 'DISABLED') return undefined;
  const key = cacheKey(q);
  const cached = cache.get(key);
  if (cached) return cached;
  const file = (name: string) => {
    const path = q.get(name);
    if (path === null) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(
        `MySQL URL: cannot read ${name}=${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
  };
  const [ca, cert, keyPem] = [file('ssl-ca'), file('ssl-cert'), file('ssl-key')];
  if ((cert === undefined) !== (keyPem === undefined))
    throw new Error('MySQL URL: ssl-cert and ssl-key go together');
  const tls: MysqlTls = {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(keyPem ? { key: keyPem } : {}),
    rejectUnauthorized: true,
    verifyIdentity: mode === 'VERIFY_IDENTITY',
  };
  cache.set(key, tls);
  return tls;
}

const cache = new Map<string, MysqlTls>();
const cacheKey = (q: URLSearchParams) =>
  ['ssl-mode', 'ssl-ca', 'ssl-cert', 'ssl-key'].map((k) => `${k}=${q.get(k) ?? ''}`).join('&');
