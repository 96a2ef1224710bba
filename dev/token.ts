import { SignJWT } from 'jose';

// Development token for the local stack: node dev/token.ts <user-id> [scope...]
// Signs with AUTH_JWT_SECRET (HS256, from .local/stack.env); production uses RS256/JWKS instead.
const [userId, ...scopes] = process.argv.slice(2);
const secret = process.env.AUTH_JWT_SECRET;
if (!userId || !/^[A-Za-z0-9_-]{1,64}$/.test(userId)) {
  console.error('usage: node dev/token.ts <user-id: letters, digits, _ or -> [scope...]');
  process.exit(2);
}
if (!secret) {
  console.error('AUTH_JWT_SECRET is not set: source .local/stack.env (make up writes it)');
  process.exit(2);
}
const token = await new SignJWT({ scope: (scopes.length ? scopes : ['purchases']).join(' ') })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(secret));
console.log(token);
