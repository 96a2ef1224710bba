import { randomUUID } from 'node:crypto';
import { mintToken } from '../support/jwt.ts';

export type ApiResponse = { status: number; body: Record<string, unknown>; headers: Headers };

/** Minimal client of the api: bearer token per user, a fresh Idempotency-Key per POST. */
export function apiClient(baseUrl: string) {
  const tokens = new Map<string, string>();
  const bearer = async (user: string) => {
    let t = tokens.get(user);
    if (!t) {
      t = await mintToken(user, { expiresIn: '1h' });
      tokens.set(user, t);
    }
    return t;
  };
  const call = async (method: string, path: string, user: string, body?: unknown): Promise<ApiResponse> => {
    const headers: Record<string, string> = { authorization: `Bearer ${await bearer(user)}` };
    if (method === 'POST') {
      headers['idempotency-key'] = `e2e-${randomUUID()}`;
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: res.headers,
    };
  };
  return {
    createPurchase: (user: string, packageId: string) =>
      call('POST', '/v1/purchases', user, { package_id: packageId }),
    confirm: (user: string, paymentId: string, method = 'pm_card_ok') =>
      call('POST', `/v1/payments/${paymentId}/confirm`, user, { payment_method: method }),
    purchases: (user: string, query = '') => call('GET', `/v1/users/${user}/purchases${query}`, user),
  };
}
