import { createHmac, timingSafeEqual } from 'node:crypto';
import { type ConsistencyToken, decodeToken, encodeToken } from '../core/position.ts';

/**
 * Consistency tokens as the API hands them out: the commit position and rows (position.ts), signed
 * with HMAC-SHA256 and bound to the user whose write made them. A forged or edited token, or one
 * made for another user, does not verify: nobody can name a position or rows of their choosing
 * (forcing reads onto MySQL, or probing another user's row ids). Opaque to clients:
 * `<payload>.<mac>`, both base64url.
 */
export type TokenSigner = {
  sign(userId: string, token: ConsistencyToken): string;
  /** The token if it is well formed, signed by this key and made for `userId`; null otherwise. */
  verify(userId: string, raw: string): ConsistencyToken | null;
};

const MAC_LENGTH = 43; // base64url of 32 bytes, unpadded

export function createTokenSigner(secret: string): TokenSigner {
  const mac = (userId: string, payload: string) =>
    // The user id goes in with its length, so no (user, payload) pair can be shifted into another.
    createHmac('sha256', secret).update(`ct1:${userId.length}:${userId}:${payload}`).digest();
  return {
    sign(userId, token) {
      const payload = encodeToken(token);
      return `${payload}.${mac(userId, payload).toString('base64url')}`;
    },
    verify(userId, raw) {
      const dot = raw.lastIndexOf('.');
      if (dot <= 0 || raw.length - dot - 1 !== MAC_LENGTH) return null;
      const payload = raw.slice(0, dot);
      const given = Buffer.from(raw.slice(dot + 1), 'base64url');
      if (given.length !== 32 || given.toString('base64url') !== raw.slice(dot + 1)) return null;
      if (!timingSafeEqual(given, mac(userId, payload))) return null;
      return decodeToken(payload);
    },
  };
}

/**
 * The development default when CONSISTENCY_TOKEN_SECRET is unset: a key derived from the JWT secret
 * (one-way, so a token key never reveals the JWT secret). Production sets its own.
 */
export function deriveTokenSecret(jwtSecret: string): string {
  return createHmac('sha256', jwtSecret).update('payment-pipeline consistency-token key v1').digest('hex');
}
