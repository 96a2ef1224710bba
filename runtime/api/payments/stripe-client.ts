import { backoffDelay, sleep } from '../../core/backoff.ts';

/**
 * A small client of Stripe's REST API (form-encoded requests, JSON answers): one request with its
 * timeout, retried on what Stripe documents as safe to retry (network errors, timeouts, 409 lock
 * conflicts, 429, 5xx, or `Stripe-Should-Retry: true`) with the same Idempotency-Key, so a retry is
 * the first request at Stripe and never a second charge or refund.
 */
export type StripeClientSettings = {
  /** Secret key (sk_live_… / sk_test_… / rk_…). */
  apiKey: string;
  /** https://api.stripe.com, or stripe-mock's address in tests. */
  apiBase: string;
  /** Pins the API version (Stripe-Version); unset = the account's default. */
  apiVersion?: string | undefined;
  /** Per attempt. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff; doubles per retry (default 250 ms, at most 2 s). */
  retryBaseMs?: number;
  fetch?: typeof fetch;
};

type Param = string | number | boolean | null | undefined | Param[] | { [key: string]: Param };

/** Stripe's error object (`{error: {...}}`), with the HTTP status it came with. */
export class StripeApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | undefined;
  readonly declineCode: string | undefined;
  readonly param: string | undefined;
  /** What the error carries of the object it concerns (a declined confirm returns its PaymentIntent). */
  readonly paymentIntent: Record<string, unknown> | undefined;
  constructor(status: number, body: Record<string, unknown> | undefined) {
    const e = (body?.error ?? {}) as Record<string, unknown>;
    super(`stripe answered ${status}: ${String(e.message ?? 'no error message')}`);
    this.name = 'StripeApiError';
    this.status = status;
    this.type = typeof e.type === 'string' ? e.type : 'api_error';
    this.code = typeof e.code === 'string' ? e.code : undefined;
    this.declineCode = typeof e.decline_code === 'string' ? e.decline_code : undefined;
    this.param = typeof e.param === 'string' ? e.param : undefined;
    this.paymentIntent =
      e.payment_intent && typeof e.payment_intent === 'object'
        ? (e.payment_intent as Record<string, unknown>)
        : undefined;
  }
}

/** No answer at all (network error, timeout on every attempt): the request's outcome is unknown. */
export class StripeUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StripeUnavailableError';
  }
}

/** Stripe's form encoding: nested objects as `a[b]=`, arrays as `a[0]=`. */
export function formEncode(params: Record<string, Param>): string {
  const out = new URLSearchParams();
  const add = (key: string, value: Param) => {
    if (value === undefined) return;
    if (value === null) out.append(key, '');
    else if (Array.isArray(value)) for (const [i, v] of value.entries()) add(`${key}[${i}]`, v);
    else if (typeof value === 'object') for (const [k, v] of Object.entries(value)) add(`${key}[${k}]`, v);
    else out.append(key, String(value));
  };
  for (const [k, v] of Object.entries(params)) add(k, v);
  return out.toString();
}

const retryableStatus = (status: number) => status === 409 || status === 429 || status >= 500;

export function createStripeClient(settings: StripeClientSettings) {
  const doFetch = settings.fetch ?? fetch;
  const base = settings.apiBase.replace(/\/+$/, '');

  async function attempt(
    method: 'GET' | 'POST',
    url: string,
    body: string | undefined,
    idempotencyKey: string | undefined,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined; shouldRetry: string | null }> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${settings.apiKey}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    if (settings.apiVersion) headers['stripe-version'] = settings.apiVersion;
    const res = await doFetch(url, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, shouldRetry: res.headers.get('stripe-should-retry') };
  }

  async function request(
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, Param> = {},
    idempotencyKey?: string,
  ): Promise<Record<string, unknown>> {
    const encoded = formEncode(params);
    const url = method === 'GET' && encoded ? `${base}${path}?${encoded}` : `${base}${path}`;
    const body = method === 'POST' ? encoded : undefined;
    let lastError: unknown;
    for (let i = 0; i <= settings.maxRetries; i++) {
      if (i > 0) await sleep(backoffDelay(i - 1, { baseMs: settings.retryBaseMs ?? 250, maxMs: 2_000 }));
      let answer: Awaited<ReturnType<typeof attempt>>;
      try {
        answer = await attempt(method, url, body, idempotencyKey);
      } catch (err) {
        lastError = err; // no answer: retried with the same key
        continue;
      }
      const { status, json, shouldRetry } = answer;
      if (status >= 200 && status < 300 && json) return json;
      const error = new StripeApiError(status, json);
      // Stripe's own word wins over the status (e.g. false on a 500 whose request must not be retried).
      const retry = shouldRetry === null ? retryableStatus(status) : shouldRetry === 'true';
      if (!retry) throw error;
      lastError = error;
    }
    if (lastError instanceof StripeApiError) throw lastError;
    throw new StripeUnavailableError(
      `stripe did not answer ${method} ${path} after ${settings.maxRetries + 1} attempts`,
      { cause: lastError },
    );
  }

  return {
    get: (path: string, params?: Record<string, Param>) => request('GET', path, params),
    post: (path: string, params: Record<string, Param>, idempotencyKey: string) =>
      request('POST', path, params, idempotencyKey),
  };
}

export type StripeClient = ReturnType<typeof createStripeClient>;
