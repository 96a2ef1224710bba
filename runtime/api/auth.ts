import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import { unauthenticated } from './errors.ts';

/** Who is calling: `sub` of the token and its scopes. */
export type Principal = { userId: string; scopes: ReadonlySet<string> };

export const ADMIN_SCOPE = 'admin';

export type AuthOptions =
  | { kind: 'hs256'; secret: string; issuer?: string; audience?: string }
  | { kind: 'jwks'; url: string; issuer?: string; audience?: string };

/**
 * Answers synchronously for a token already verified (the common case: no promise per request) and
 * with a promise when it must verify; throws or rejects with the 401.
 */
export type Authenticator = (authorization: string | undefined) => Principal | Promise<Principal>;

/**
 * Verified tokens by their exact text, until they expire. Verifying an HS256 JWT through WebCrypto
 * costs ~50 µs, a large share of the hot read path; a token seen once is never re-verified. Only
 * tokens that passed verification get in, and expiry is checked on every hit.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; expiresAtMs: number }>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(token: string, nowMs: number): Principal | undefined {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (hit.expiresAtMs <= nowMs) {
      this.entries.delete(token);
      return undefined;
    }
    return hit.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number): void {
    if (this.entries.size >= this.max) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, { principal, expiresAtMs });
  }
}

const USER_ID = /^[A-Za-z0-9_.:@-]{1,64}$/;

/**
 * Verifies bearer JWTs. The accepted algorithm is pinned per mode (HS256 with a shared secret, RS256
 * from a JWKS), so `alg: none` and algorithm-confusion tokens are rejected by construction.
 */
export function createAuthenticator(opts: AuthOptions, cacheSize = 10_000): Authenticator {
  const verified = new VerifiedTokens(cacheSize);
  const algorithms = opts.kind === 'hs256' ? ['HS256'] : ['RS256'];
  const claims = {
    algorithms,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.audience ? { audience: opts.audience } : {}),
    requiredClaims: ['sub', 'exp'],
  };
  let verify: (jwt: string) => Promise<{ payload: JWTPayload }>;
  if (opts.kind === 'hs256') {
    const secret = new TextEncoder().encode(opts.secret);
    verify = (jwt) => jwtVerify(jwt, secret, claims);
  } else {
    const jwks = createRemoteJWKSet(new URL(opts.url));
    verify = (jwt) => jwtVerify(jwt, jwks, claims);
  }

  return (authorization) => {
    if (!authorization) throw unauthenticated('missing_token', 'an Authorization: Bearer token is required');
    const m = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization);
    if (!m?.[1]) throw unauthenticated('malformed_token', 'Authorization header must be "Bearer <jwt>"');
    const cached = cacheSize > 0 ? verified.get(m[1], Date.now()) : undefined;
    return cached ?? verifyToken(m[1]);
  };

  async function verifyToken(jwt: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      payload = (await verify(jwt)).payload;
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw unauthenticated('token_expired', 'the token has expired');
      throw unauthenticated('invalid_token', 'the token could not be verified');
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || !USER_ID.test(sub)) {
      throw unauthenticated('invalid_token', 'the token has no usable subject');
    }
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    const principal: Principal = { userId: sub, scopes: new Set(scope.split(' ').filter(Boolean)) };
    // requiredClaims guarantees a numeric exp; jose has already refused expired tokens.
    if (cacheSize > 0) verified.set(jwt, principal, (payload.exp ?? 0) * 1000);
    return principal;
  }
}

export function isAdmin(p: Principal): boolean {
  return p.scopes.has(ADMIN_SCOPE);
}
