import { expect } from 'vitest';
import {
  SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  signPayload,
} from '../../runtime/api/payments/webhooks.ts';
import { createPurchaseResponse } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, TEST_WEBHOOK_SECRET } from './api.ts';
import { uniqueSuffix } from './env.ts';

/**
 * A purchase of `packageId` whose payment was confirmed (with `paymentMethod` when given) and is then
 * in `status`: its payment id.
 */
export async function confirmedPayment(
  api: ApiHarness,
  token: string,
  opts: { status: string; paymentMethod?: string; packageId?: string },
): Promise<string> {
  const created = await call(api.url, 'POST', '/v1/purchases', {
    token,
    body: { package_id: opts.packageId ?? 'pkg_plus' },
    headers: { 'idempotency-key': `buy_${uniqueSuffix()}` },
  });
  const id = createPurchaseResponse.parse(created.body).payment.id;
  const confirmed = await call(api.url, 'POST', `/v1/payments/${id}/confirm`, {
    token,
    ...(opts.paymentMethod !== undefined && { body: { payment_method: opts.paymentMethod } }),
    headers: { 'idempotency-key': `confirm_${uniqueSuffix()}` },
  });
  expect(confirmed.body).toMatchObject({ payment: { status: opts.status } });
  return id;
}

/** A payment's row as the database has it ('missing' status when there is none). */
export async function paymentRow(
  api: ApiHarness,
  id: string,
): Promise<{ status: string; providerRef: string }> {
  const [rows] = await api.db.admin.query('SELECT status, provider_ref FROM payments WHERE id = ?', [id]);
  const row = (rows as { status: string; provider_ref: string | null }[])[0];
  return { status: row?.status ?? 'missing', providerRef: String(row?.provider_ref) };
}

/** The api's two webhook routes and the header each reads the signature from. */
export const WEBHOOKS = {
  provider: { path: '/v1/webhooks/provider', header: SIGNATURE_HEADER },
  stripe: { path: '/v1/webhooks/stripe', header: STRIPE_SIGNATURE_HEADER },
} as const;

export const unixNow = () => Math.floor(Date.now() / 1000);

/** The test secret's signature of `body`, made `offsetSeconds` from now. */
export const signWebhook = (body: string, offsetSeconds = 0) =>
  signPayload(TEST_WEBHOOK_SECRET, body, unixNow() + offsetSeconds);

/** POST a webhook as the provider sends it: the raw body, the signature header (none when undefined). */
export function postWebhook(
  api: ApiHarness,
  route: (typeof WEBHOOKS)[keyof typeof WEBHOOKS],
  body: string,
  signature: string | undefined,
) {
  return call(api.url, 'POST', route.path, {
    rawBody: body,
    headers: signature === undefined ? {} : { [route.header]: signature },
  });
}
