import type { RouteHandlerMethod } from 'fastify';
import { z } from 'zod';
import * as ex from '../openapi-examples.ts';
import { stripeEventBody } from '../payments/stripe-webhooks.ts';
import { SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER } from '../payments/webhooks.ts';
import {
  catalogResponse,
  confirmPaymentBody,
  createPurchaseBody,
  createPurchaseResponse,
  getPaymentResponse,
  packageListQuery,
  packageListQueryDocs,
  packagePageSchema,
  paymentResponse,
  refundPaymentBody,
  repairResponse,
  webhookBody,
  webhookResponse,
} from '../schemas.ts';

// The API's routes, each declared once: register.ts hands them to fastify (method, url, admission,
// the Idempotency-Key check) and openapi.ts documents them (parameters, bodies, responses, errors).
// Handlers live in the route modules beside this file, one per entry, by the entry's name (its
// operationId); a route without a handler does not compile. To add a route: an entry here, its
// schemas in schemas.ts, its examples in openapi-examples.ts, its handler in a route module.

export type Example = { summary: string; value: unknown };

export type RouteSpec = {
  method: 'GET' | 'POST';
  /** fastify's form: `:name` segments are path parameters (documented as strings). */
  url: string;
  /** `user` needs a bearer token, `admin` one with the admin scope (403 otherwise), `none` is public. */
  auth: 'user' | 'admin' | 'none';
  /** Takes an Idempotency-Key header (400 before the handler runs when missing or malformed). */
  idempotencyKey?: boolean;
  /** The handler awaits the rate limit itself (plugins/admission.ts): the package read's hot path. */
  admitInHandler?: boolean;
  tag: string;
  summary: string;
  description?: string;
  /** The query the handler parses, and how fields whose wire form differs are documented. */
  query?: { schema: z.ZodObject; docs?: Record<string, Record<string, unknown>> };
  /** Headers the route requires (besides Authorization and Idempotency-Key). */
  headers?: { name: string; schema: z.ZodType; description: string }[];
  /** The JSON body the handler parses, with examples it accepts. */
  body?: { schema: z.ZodType; examples: Record<string, Example> };
  response: {
    status: number;
    schema: z.ZodType;
    examples: Record<string, Example>;
    /** Response headers the route sets, with their description. */
    headers?: Record<string, string>;
  };
  /** Error statuses of this route beyond those every route answers, with their description. */
  errors?: Record<string, string>;
};

export const routeTable = {
  listPackages: {
    method: 'GET',
    url: '/v1/packages',
    auth: 'user',
    tag: 'Catalog',
    summary: 'The catalog',
    response: {
      status: 200,
      schema: catalogResponse,
      examples: { catalog: { summary: 'two packages', value: ex.catalogExample } },
    },
  },
  createPurchase: {
    method: 'POST',
    url: '/v1/purchases',
    auth: 'user',
    idempotencyKey: true,
    tag: 'Purchases',
    summary: 'Buy a package: creates the purchase and its pending payment',
    description:
      'The amount and currency come from the catalog row read in the same transaction, never from the client. Confirm the payment to charge it.',
    body: {
      schema: createPurchaseBody,
      examples: { starter: { summary: 'buy the Starter package', value: ex.createPurchaseExample } },
    },
    response: {
      status: 201,
      schema: createPurchaseResponse,
      examples: {
        created: { summary: 'purchase with its pending payment', value: ex.createPurchaseResponseExample },
      },
    },
  },
  getPayment: {
    method: 'GET',
    url: '/v1/payments/:payment_id',
    auth: 'user',
    tag: 'Payments',
    summary: 'A payment',
    description: "The caller's own payment; admins (scope admin) read any.",
    response: {
      status: 200,
      schema: getPaymentResponse,
      examples: { pending: { summary: 'a pending payment', value: ex.paymentExample } },
    },
  },
  confirmPayment: {
    method: 'POST',
    url: '/v1/payments/:payment_id/confirm',
    auth: 'user',
    idempotencyKey: true,
    tag: 'Payments',
    summary: 'Charge the payment through the provider',
    description: 'pending → processing → succeeded or failed (failure_code says why).',
    body: {
      schema: confirmPaymentBody,
      examples: {
        card_ok: { summary: 'a card the simulated provider accepts', value: ex.confirmPaymentExample },
        declined: {
          summary: 'a card the simulated provider declines',
          value: { payment_method: 'pm_card_declined' },
        },
      },
    },
    response: {
      status: 200,
      schema: paymentResponse,
      examples: { succeeded: { summary: 'charged', value: ex.confirmedPaymentExample } },
    },
  },
  refundPayment: {
    method: 'POST',
    url: '/v1/payments/:payment_id/refund',
    auth: 'user',
    idempotencyKey: true,
    tag: 'Payments',
    summary:
      'Refund a succeeded payment: refunded, back to succeeded with failure_code (declined), or refunding (no answer yet: settled later)',
    body: { schema: refundPaymentBody, examples: { empty: { summary: 'no parameters', value: {} } } },
    response: {
      status: 200,
      schema: paymentResponse,
      examples: { refunded: { summary: 'refunded', value: ex.refundedPaymentExample } },
    },
  },
  listUserPurchases: {
    method: 'GET',
    url: '/v1/users/:user_id/purchases',
    auth: 'user',
    admitInHandler: true,
    tag: 'Purchase package',
    summary: "The user's purchase package, newest first",
    description:
      'Answered from Redis in one round trip; from MySQL while Redis is behind a passed consistency_token.',
    query: { schema: packageListQuery, docs: packageListQueryDocs },
    response: {
      status: 200,
      schema: packagePageSchema,
      examples: { page: { summary: 'one paid purchase, last page', value: ex.packagePageExample } },
      headers: {
        'X-Package-Source': 'where the page came from: redis | mysql_miss | mysql_behind',
        'X-Package-Position':
          "the source position (GTID, e.g. 0-1-4711) the page holds at least: Redis's applied position read with the page, or MySQL's committed position read before it",
      },
    },
  },
  repairUserCache: {
    method: 'POST',
    url: '/v1/admin/users/:user_id/repair',
    auth: 'admin',
    tag: 'Admin',
    summary:
      "Admin scope: rebuild one user's cache from MySQL (version-guarded: a newer change from the stream is kept); idempotent by nature, no Idempotency-Key",
    response: {
      status: 200,
      schema: repairResponse,
      examples: { repaired: { summary: "one user's cache rebuilt", value: ex.repairExample } },
    },
  },
  receiveProviderWebhook: {
    method: 'POST',
    url: '/v1/webhooks/provider',
    auth: 'none',
    tag: 'Webhooks',
    summary:
      'Provider callbacks, signed with the webhook secret; 409 payment_not_found_yet + Retry-After while no payment has the reference (redeliver)',
    headers: [
      {
        name: SIGNATURE_HEADER,
        schema: z.string().regex(/^t=\d{1,12}(,v1=[0-9a-f]{64})+$/),
        description:
          't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; the timestamp must be within the tolerance',
      },
    ],
    body: {
      schema: webhookBody,
      examples: { succeeded: { summary: 'the provider charged', value: ex.webhookExample } },
    },
    response: {
      status: 200,
      schema: webhookResponse,
      examples: { applied: { summary: 'recorded and applied', value: ex.webhookResponseExample } },
    },
  },
  receiveStripeWebhook: {
    method: 'POST',
    url: '/v1/webhooks/stripe',
    auth: 'none',
    tag: 'Webhooks',
    summary:
      "Stripe's event deliveries (PAYMENT_PROVIDER=stripe; 503 otherwise): payment_intent.succeeded, payment_intent.payment_failed and charge.refunded move the payment, other events are acknowledged",
    headers: [
      {
        name: STRIPE_SIGNATURE_HEADER,
        schema: z.string(),
        description:
          'Stripe\'s t=<unix seconds>,v1=<hex HMAC-SHA256(whsec_…, "<t>.<raw body>")>; within the tolerance (300 s)',
      },
    ],
    body: {
      schema: stripeEventBody,
      examples: { succeeded: { summary: 'Stripe charged', value: ex.stripeWebhookExample } },
    },
    response: {
      status: 200,
      schema: webhookResponse,
      examples: { applied: { summary: 'recorded and applied', value: ex.webhookResponseExample } },
    },
  },
} satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof routeTable;

/** One handler per route of the table, by its name. */
export type RouteHandlers = Record<RouteName, RouteHandlerMethod>;
