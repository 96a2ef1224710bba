import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PaymentStatus } from '../../core/cache/types.ts';
import type { Pool } from '../../core/db/pool.ts';
import { ApiError } from '../errors.ts';
import { findPaymentByProviderRef, updatePaymentStatus } from '../store/payments.ts';
import { inTransaction, sqlErrorCode } from '../store/transaction.ts';
import { canTransition } from './state-machine.ts';

/**
 * Provider callbacks. The signature header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`;
 * the timestamp bounds replays of captured requests, the event id makes deliveries idempotent, and
 * the state machine ignores events that arrive after the payment moved on.
 */
export const SIGNATURE_HEADER = 'x-provider-signature';

export function signPayload(secret: string, body: string, timestamp: number): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** Stripe signs its webhooks the same way, in this header (the secret is the endpoint's whsec_… string). */
export const STRIPE_SIGNATURE_HEADER = 'stripe-signature';

/** `headerName` only names the header in errors (Stripe's deliveries carry `Stripe-Signature`). */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  toleranceSeconds: number,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  headerName: string = SIGNATURE_HEADER,
): void {
  const badSignature = (code: string, message: string) =>
    new ApiError(400, 'invalid_request_error', code, message, { param: headerName });
  if (!header) throw badSignature('signature_missing', `the ${headerName} header is required`);
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const [k, v] = item.split('=', 2);
    if (k && v) parts.set(k.trim(), [...(parts.get(k.trim()) ?? []), v.trim()]);
  }
  const t = parts.get('t')?.[0];
  if (!t || !/^\d{1,12}$/.test(t))
    throw badSignature('signature_malformed', 'the signature has no valid timestamp');
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) {
    throw badSignature('signature_expired', 'the signature timestamp is outside the tolerance');
  }
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const ok = (parts.get('v1') ?? []).some((sig) => {
    if (!/^[0-9a-f]{64}$/.test(sig)) return false;
    return timingSafeEqual(Buffer.from(sig, 'hex'), expected);
  });
  if (!ok) throw badSignature('signature_invalid', 'the signature does not match the payload');
}

export type WebhookEvent = {
  id: string;
  type: 'payment.succeeded' | 'payment.failed' | 'payment.refunded';
  data: { provider_ref: string; failure_code?: string | undefined };
};

/**
 * What each event may move, from where. Narrower than the state machine: a charge event never moves
 * a payment whose refund is in progress (`refunding → succeeded` is only the provider refusing it).
 */
const TRANSITION: Record<WebhookEvent['type'], { from: readonly PaymentStatus[]; to: PaymentStatus }> = {
  'payment.succeeded': { from: ['processing'], to: 'succeeded' },
  'payment.failed': { from: ['processing'], to: 'failed' },
  'payment.refunded': { from: ['succeeded', 'refunding'], to: 'refunded' },
};

export type WebhookOutcome = { received: true; duplicate: boolean; applied: boolean };

/** Seconds the provider is asked to wait before it delivers an event for an unknown reference again. */
export const UNKNOWN_REF_RETRY_AFTER_SECONDS = 30;

/**
 * No payment has the event's provider reference yet: typically the charge's webhook overtook the
 * confirm, which records the reference once the provider's answer is in. Nothing is recorded, so the
 * provider's redelivery (any non-2xx is retried) is applied then instead of being taken for a duplicate.
 */
const unknownRef = () =>
  new ApiError(
    409,
    'conflict',
    'payment_not_found_yet',
    'no payment has this provider reference yet; deliver the event again later',
    { param: 'data.provider_ref', headers: { 'retry-after': String(UNKNOWN_REF_RETRY_AFTER_SECONDS) } },
  );

export async function applyWebhook(
  pool: Pool,
  provider: string,
  event: WebhookEvent,
): Promise<WebhookOutcome> {
  const { value } = await inTransaction(pool, async (tx): Promise<WebhookOutcome> => {
    try {
      await tx.query(
        'INSERT INTO webhook_events (provider, event_id, received_at) VALUES (?, ?, UTC_TIMESTAMP(6))',
        [provider, event.id],
      );
    } catch (err) {
      if (sqlErrorCode(err) === 'ER_DUP_ENTRY') return { received: true, duplicate: true, applied: false };
      throw err;
    }
    const payment = await findPaymentByProviderRef(tx, provider, event.data.provider_ref);
    // Thrown inside the transaction: the event row inserted above is rolled back with it.
    if (!payment) throw unknownRef();
    const { from, to } = TRANSITION[event.type];
    // The payment moved on (a late or stale event): recorded, so a redelivery is a duplicate.
    if (!from.includes(payment.status) || !canTransition(payment.status, to))
      return { received: true, duplicate: false, applied: false };
    const updated = await updatePaymentStatus(tx, payment.id, payment.status, to, {
      failure_code: to === 'failed' ? (event.data.failure_code ?? 'provider_declined') : null,
    });
    return { received: true, duplicate: false, applied: updated !== null };
  });
  return value;
}

/**
 * Deletes processed events older than `retentionDays`, oldest first, in batches of `batch` (short
 * transactions, index `webhook_events_received`); at most `maxBatches` per call, so one pass stays
 * bounded however far behind it is. Returns how many went. A redelivery of a purged event would be
 * applied again, so the retention must exceed every provider's retry window (days, not weeks).
 */
export async function purgeWebhookEvents(
  pool: Pool,
  retentionDays: number,
  opts: { batch?: number; maxBatches?: number } = {},
): Promise<number> {
  const batch = opts.batch ?? 1000;
  const maxBatches = opts.maxBatches ?? 20;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const [result] = await pool.query(
      `DELETE FROM webhook_events WHERE received_at < UTC_TIMESTAMP(6) - INTERVAL ? DAY
       ORDER BY received_at LIMIT ?`,
      [retentionDays, batch],
    );
    const n = (result as { affectedRows: number }).affectedRows;
    total += n;
    if (n < batch) break;
  }
  return total;
}
