import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, isAdmin } from './auth.ts';
import { ApiError } from './errors.ts';

const secret = 'unit-test-secret-that-is-long-enough!';
const sign = (claims: Record<string, unknown>, opts: { alg?: string; key?: Uint8Array; exp?: number } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 60)
    .sign(opts.key ?? new TextEncoder().encode(secret));

async function codeOf(p: unknown): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.code}` : String(err);
  }
}

describe('HS256 authenticator', () => {
  const auth = createAuthenticator({ kind: 'hs256', secret, issuer: 'payments-dev' });

  it('yields the subject and scopes', async () => {
    const p = await auth(
      `Bearer ${await sign({ sub: 'u1', scope: 'purchases admin', iss: 'payments-dev' })}`,
    );
    expect(p.userId).toBe('u1');
    expect(isAdmin(p)).toBe(true);
  });

  it('refuses wrong issuer, missing subject, odd subjects and HS512', async () => {
    expect(await codeOf(auth(`Bearer ${await sign({ sub: 'u1', iss: 'elsewhere' })}`))).toBe(
      '401 invalid_token',
    );
    expect(await codeOf(auth(`Bearer ${await sign({ iss: 'payments-dev' })}`))).toBe('401 invalid_token');
    expect(await codeOf(auth(`Bearer ${await sign({ sub: 'a b', iss: 'payments-dev' })}`))).toBe(
      '401 invalid_token',
    );
    expect(
      await codeOf(auth(`Bearer ${await sign({ sub: 'u1', iss: 'payments-dev' }, { alg: 'HS512' })}`)),
    ).toBe('401 invalid_token');
  });

  it('reports expiry distinctly', async () => {
    const old = await sign({ sub: 'u1', iss: 'payments-dev' }, { exp: Math.floor(Date.now() / 1000) - 120 });
    expect(await codeOf(auth(`Bearer ${old}`))).toBe('401 token_expired');
  });
});

describe('verified-token cache', () => {
  it('serves a verified token again but still expires it on time', async () => {
    const auth = createAuthenticator({ kind: 'hs256', secret });
    const token = await sign({ sub: 'u2' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    expect((await auth(`Bearer ${token}`)).userId).toBe('u2');
    // Verified once: later calls answer without a promise (no microtask turn on the hot path).
    const again = auth(`Bearer ${token}`);
    expect(again).not.toBeInstanceOf(Promise);
    expect((again as { userId: string }).userId).toBe('u2');
    await new Promise((r) => setTimeout(r, 2100));
    expect(await codeOf(auth(`Bearer ${token}`))).toBe('401 token_expired');
  });

  it('never caches a token that failed verification', async () => {
    const auth = createAuthenticator({ kind: 'hs256', secret });
    const forged = await sign(
      { sub: 'u3' },
      { key: new TextEncoder().encode('not-the-secret-but-long-enough!!') },
    );
    expect(await codeOf(auth(`Bearer ${forged}`))).toBe('401 invalid_token');
    expect(await codeOf(auth(`Bearer ${forged}`))).toBe('401 invalid_token');
  });
});

describe('RS256 (JWKS) authenticator', () => {
  it('verifies against a JWKS and refuses an HS256 token signed with the public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const auth = createAuthenticator({
        kind: 'jwks',
        url: `http://127.0.0.1:${port}/jwks.json`,
        audience: 'payments',
      });
      const good = await new SignJWT({ sub: 'u9', aud: 'payments' })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setExpirationTime('1m')
        .sign(privateKey);
      expect((await auth(`Bearer ${good}`)).userId).toBe('u9');
      const confused = await sign(
        { sub: 'u9', aud: 'payments' },
        { key: new TextEncoder().encode(JSON.stringify(jwk)) },
      );
      expect(await codeOf(auth(`Bearer ${confused}`))).toBe('401 invalid_token');
    } finally {
      server.close();
    }
  });
});
