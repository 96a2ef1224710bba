import { randomUUID } from 'node:crypto';
import { mintToken } from '../support/jwt.ts';

export type ApiResponse = { status: number; body: Record<string, unknown>; headers: Headers };

export type ApiClientOptions = {
  /** HS256 secret of the api under test (default: the test stack's AUTH_JWT_SECRET). */
  secret?: string;
  /** Per-request timeout in ms (default: none). */
  timeoutMs?: number;
};

/**
 * Minimal client of the api: bearer token per user, a fresh Idempotency-Key per POST unless the
 * caller passes one (to retry a write as a real client would).
 */
export function apiClient(baseUrl: string, opts: ApiClientOptions = {}) {
  const tokens = new Map<string, string>();
  const bearer = async (user: string) => {
    let t = tokens.get(user);
    if (!t) {
      t = await mintToken(user, { expiresIn: '1h', ...(opts.secret ? { secret: opts.secret } : {}) });
      tokens.set(user, t);
    }
    return t;
  };
  const call = async (
    method: string,
    path: string,
    user: string,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<ApiResponse> => {
    const headers: Record<string, string> = { authorization: `Bearer ${await bearer(user)}` };
    if (method === 'POST') {
      headers['idempotency-key'] = idempotencyKey ?? `e2e-${randomUUID()}`;
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(opts.timeoutMs ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: res.headers,
    };
  };
  return {
    createPurchase: (user: string, packageId: string, idempotencyKey?: string) =>
      call('POST', '/v1/purchases', user, { package_id: packageId }, idempotencyKey),
    confirm: (user: string, paymentId: string, method = 'pm_card_ok', idempotencyKey?: string) =>
      call('POST', `/v1/payments/${paymentId}/confirm`, user, { payment_method: method }, idempotencyKey),
    refund: (user: string, paymentId: string, idempotencyKey?: string) =>
      call('POST', `/v1/payments/${paymentId}/refund`, user, {}, idempotencyKey),
    purchases: (user: string, query = '') => call('GET', `/v1/users/${user}/purchases${query}`, user),
  };
}
