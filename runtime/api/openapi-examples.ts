import type { z } from 'zod';
import { ApiError, invalidRequest, notFound, unauthenticated } from './errors.ts';
import { methodNotAllowed } from './framework-errors.ts';
import type { stripeEventBody } from './payments/stripe-webhooks.ts';
import type {
  catalogResponse,
  confirmPaymentBody,
  createPurchaseBody,
  createPurchaseResponse,
  packagePageSchema,
  paymentResponse,
  paymentSchema,
  webhookBody,
} from './schemas.ts';
import { serviceUnavailable } from './unavailable.ts';

// Examples of the OpenAPI document. Each is typed by the zod schema it illustrates and openapi.ts
// parses it with that schema when it builds the document, so an example cannot drift from the contract.
// Error examples are built by the same constructors the handlers throw.

const at = '2026-03-01T12:00:00.000000Z';
const later = '2026-03-01T12:00:01.250000Z';
// Opaque to clients: `<payload>.<mac>`, both base64url (consistency-token.ts).
const token = `eyJnIjoiMC0xLTQ3MTEifQ.${'Q'.repeat(43)}`;

export const catalogExample: z.output<typeof catalogResponse> = {
  items: [
    {
      id: 'pkg_starter',
      name: 'Starter',
      description: '100 credits',
      price: { amount: 499, currency: 'EUR' },
    },
    {
      id: 'pkg_yen',
      name: 'Tokyo bundle',
      description: '1,000 credits',
      price: { amount: 1500, currency: 'JPY' },
    },
  ],
};

export const createPurchaseExample: z.input<typeof createPurchaseBody> = { package_id: 'pkg_starter' };

const pendingPayment: z.output<typeof paymentSchema> = {
  id: 'pay_01JNJ6ZQ8X3T5V7W9Y1A3C5E7G',
  purchase_id: 'pur_01JNJ6ZQ8W2S4U6W8Y0A2C4E6F',
  user_id: 'user_123',
  amount: 499,
  currency: 'EUR',
  status: 'pending',
  provider: 'simulated',
  failure_code: null,
  created_at: at,
  updated_at: at,
};

export const createPurchaseResponseExample: z.output<typeof createPurchaseResponse> = {
  purchase: {
    id: pendingPayment.purchase_id,
    user_id: 'user_123',
    package_id: 'pkg_starter',
    amount: 499,
    currency: 'EUR',
    created_at: at,
  },
  payment: pendingPayment,
  consistency_token: token,
};

export const paymentExample: { payment: z.output<typeof paymentSchema> } = { payment: pendingPayment };

export const confirmPaymentExample: z.input<typeof confirmPaymentBody> = { payment_method: 'pm_card_ok' };

export const confirmedPaymentExample: z.output<typeof paymentResponse> = {
  payment: { ...pendingPayment, status: 'succeeded', updated_at: later },
  consistency_token: token,
};

export const refundedPaymentExample: z.output<typeof paymentResponse> = {
  payment: { ...pendingPayment, status: 'refunded', updated_at: later },
  consistency_token: token,
};

export const packagePageExample: z.output<typeof packagePageSchema> = {
  items: [
    {
      purchase_id: pendingPayment.purchase_id,
      user_id: 'user_123',
      package: { id: 'pkg_starter', name: 'Starter' },
      amount: 499,
      currency: 'EUR',
      payment: { id: pendingPayment.id, status: 'succeeded' },
      paid: true,
      created_at: at,
      updated_at: later,
    },
  ],
  next_cursor: null,
};

export const webhookExample: z.input<typeof webhookBody> = {
  id: 'evt_01JNJ70A1B2C3D4E5F6G7H8J9K',
  type: 'payment.succeeded',
  data: { provider_ref: 'sim_ch_01JNJ6ZR0M1N2P3Q4R5S6T7V8W' },
};

export const stripeWebhookExample: z.input<typeof stripeEventBody> = {
  id: 'evt_3PgafyB7WZ01zgkW0kCdPq7x',
  type: 'payment_intent.succeeded',
  data: { object: { id: 'pi_3PgafyB7WZ01zgkW1vNqAe2s', object: 'payment_intent', status: 'succeeded' } },
};

export const webhookResponseExample = { received: true, duplicate: false, applied: true };

export const repairExample = {
  repaired: {
    user: 'u_alice',
    gtid: '0-1-4711',
    version: '00000000000000004711.0000000099',
    rows: { packages: 2, purchases: 3, payments: 3 },
    applied: 8,
    tombstoned: 0,
    unlisted: 0,
  },
};

/** One example per error status of the document, as the api answers it. */
export const errorExamples: Record<string, { summary: string; value: unknown }> = {
  '400': {
    summary: 'a parameter is invalid',
    value: invalidRequest(
      'parameter_invalid',
      'invalid parameter package_id: must be a package id',
      'package_id',
    ).toBody(),
  },
  '401': {
    summary: 'no bearer token',
    value: unauthenticated('missing_token', 'an Authorization: Bearer token is required').toBody(),
  },
  '403': {
    summary: 'the token lacks the admin scope',
    value: new ApiError(
      403,
      'permission_error',
      'admin_scope_required',
      'this operation needs the admin scope',
    ).toBody(),
  },
  '404': { summary: "not found, or another user's", value: notFound('payment').toBody() },
  '405': {
    summary: 'the path does not take this method',
    value: methodNotAllowed(['POST']).toBody(),
  },
  '409': {
    summary: 'illegal state transition',
    value: new ApiError(
      409,
      'conflict',
      'payment_invalid_state',
      'cannot refund a payment that is pending',
    ).toBody(),
  },
  '413': {
    summary: 'body too large',
    value: new ApiError(
      413,
      'invalid_request_error',
      'body_too_large',
      'the request body is too large',
    ).toBody(),
  },
  '414': {
    summary: 'URI too long',
    value: new ApiError(
      414,
      'invalid_request_error',
      'uri_too_long',
      'a path parameter is too long',
    ).toBody(),
  },
  '415': {
    summary: 'not JSON',
    value: new ApiError(
      415,
      'invalid_request_error',
      'unsupported_media_type',
      'send application/json',
    ).toBody(),
  },
  '422': {
    summary: 'Idempotency-Key reused with other parameters',
    value: new ApiError(
      422,
      'idempotency_error',
      'idempotency_key_reused',
      'this Idempotency-Key was already used with different request parameters',
    ).toBody(),
  },
  '429': {
    summary: 'rate limited',
    value: new ApiError(
      429,
      'rate_limit_error',
      'rate_limited_user',
      'too many requests, slow down',
    ).toBody(),
  },
  '431': {
    summary: 'headers too large',
    value: new ApiError(
      431,
      'invalid_request_error',
      'headers_too_large',
      'the request headers are too large',
    ).toBody(),
  },
  '503': { summary: 'a dependency is down', value: serviceUnavailable().toBody() },
};
