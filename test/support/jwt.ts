import { SignJWT } from 'jose';
import { requireEnv } from './env.ts';

/** An HS256 token for the test stack's AUTH_JWT_SECRET (or another secret, to test tampering). */
export async function mintToken(
  sub: string,
  opts: { scope?: string; expiresIn?: string | number; secret?: string } = {},
): Promise<string> {
  const secret = new TextEncoder().encode(opts.secret ?? requireEnv('AUTH_JWT_SECRET'));
  return new SignJWT({ scope: opts.scope ?? 'purchases' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '10m')
    .sign(secret);
}

/** An unsigned `alg: none` token, which must always be refused. */
export function unsignedToken(sub: string): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
}
