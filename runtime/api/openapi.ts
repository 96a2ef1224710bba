import { z } from 'zod';
import * as ex from './openapi-examples.ts';
import { stripeEventBody } from './payments/stripe-webhooks.ts';
import { SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER } from './payments/webhooks.ts';
import { repairResponse } from './routes/admin.ts';
import {
  catalogResponse,
  confirmPaymentBody,
  createPurchaseBody,
  createPurchaseResponse,
  errorSchema,
  packageListQuery,
  packagePageSchema,
  paymentResponse,
  paymentSchema,
  refundPaymentBody,
  webhookBody,
} from './schemas.ts';

type Example = { summary: string; value: unknown };

type Op = {
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  body?: z.ZodType;
  ok: {
    status: number;
    schema: z.ZodType;
    examples: Record<string, Example>;
    /** Response headers the operation sets, with their description. */
    headers?: Record<string, string>;
  };
  /** Request body examples by name, each parsed with `body`. */
  bodyExamples?: Record<string, Example>;
  idempotent?: boolean;
  auth?: boolean;
  params?: Record<string, unknown>[];
  /** Further error statuses the operation answers, with their description. */
  errors?: Record<string, string>;
};

/** A JSON Schema for the document; its dialect is the document's (OpenAPI 3.1), so no `$schema` on each. */
const json = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
};
const errorResponse = (status: string, description: string, headers?: Record<string, unknown>) => {
  const example = ex.errorExamples[status];
  if (!example) throw new Error(`no error example for ${status}`);
  return {
    description,
    ...(headers ? { headers } : {}),
    content: {
      'application/json': {
        schema: { $ref: '#/components/schemas/Error' },
        examples: { [example.summary.replace(/\W+/g, '_')]: checked(errorSchema, example) },
      },
    },
  };
};

/** An example the schema accepts, or the document does not build (a drifted example is a bug). */
export function checked(schema: z.ZodType, example: Example): Example {
  const result = schema.safeParse(example.value);
  if (!result.success) throw new Error(`OpenAPI example "${example.summary}": ${result.error.message}`);
  return example;
}
const checkedAll = (schema: z.ZodType, examples: Record<string, Example>) =>
  Object.fromEntries(Object.entries(examples).map(([name, e]) => [name, checked(schema, e)]));
const retryAfter = {
  'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } },
};

function operation(op: Op) {
  const parameters = [...(op.params ?? [])];
  if (op.idempotent) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: true,
      schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,255}$' },
      description: 'replays return the first response; reuse with other parameters is refused (422)',
    });
  }
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.auth === false ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: json(op.body, 'input'),
                ...(op.bodyExamples ? { examples: checkedAll(op.body, op.bodyExamples) } : {}),
              },
            },
          },
        }
      : {}),
    responses: {
      [op.ok.status]: {
        description: 'success',
        ...(op.ok.headers
          ? {
              headers: Object.fromEntries(
                Object.entries(op.ok.headers).map(([name, description]) => [
                  name,
                  { description, schema: { type: 'string' } },
                ]),
              ),
            }
          : {}),
        content: {
          'application/json': {
            schema: json(op.ok.schema, 'output'),
            examples: checkedAll(op.ok.schema, op.ok.examples),
          },
        },
      },
      '400': errorResponse('400', 'invalid request'),
      ...(op.auth === false ? {} : { '401': errorResponse('401', 'missing or invalid token') }),
      '404': errorResponse('404', "not found (also: another user's object)"),
      '409': errorResponse(
        '409',
        'conflict: illegal state transition or concurrent use of the Idempotency-Key',
      ),
      '405': errorResponse('405', 'the path does not take this method (see the Allow header)', {
        Allow: { description: 'the methods the path takes', schema: { type: 'string' } },
      }),
      ...(op.body
        ? {
            '413': errorResponse('413', 'the request body is too large'),
            '415': errorResponse('415', 'the body is not application/json'),
          }
        : {}),
      '414': errorResponse('414', 'the URI (or a path parameter) is too long'),
      '422': errorResponse('422', 'Idempotency-Key reused with different parameters'),
      '429': errorResponse('429', 'rate limited', retryAfter),
      '431': errorResponse('431', 'the request headers are too large'),
      '503': errorResponse(
        '503',
        'a dependency (database, cache) is unavailable: retry after Retry-After',
        retryAfter,
      ),
      ...Object.fromEntries(
        Object.entries(op.errors ?? {}).map(([status, d]) => [status, errorResponse(status, d)]),
      ),
    },
  };
}

const pathId = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/** A query parameter documented from the field of the schema the route validates it with. */
const queryParam = (name: keyof typeof packageListQuery.shape) => {
  const { description, ...schema } = json(packageListQuery.shape[name].unwrap(), 'input') as {
    description?: string;
    $schema?: string;
  };
  delete schema.$schema;
  return { name, in: 'query', schema, ...(description ? { description } : {}) };
};

/** The OpenAPI 3.1 document, generated from the zod schemas the handlers validate with. */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Payment API',
      version: '1.0.0',
      description:
        'Purchases and payments over MySQL, read back from Redis. Every error is `{error: {type, code, message, param?}}`; every POST takes an Idempotency-Key; writes return a consistency_token that a read can pass to see its own write. Amounts are integer minor units of an ISO 4217 currency.',
    },
    tags: [
      { name: 'Catalog' },
      { name: 'Purchases' },
      { name: 'Payments' },
      { name: 'Purchase package' },
      { name: 'Webhooks', description: 'called by the payment provider, not by users' },
    ],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            '`sub` is the user; scope `admin` reads any payment. HS256 with AUTH_JWT_SECRET in development (`node dev/token.ts <user>` mints one), RS256 from AUTH_JWKS_URL in production.',
        },
      },
      schemas: { Error: json(errorSchema, 'output'), Payment: json(paymentSchema, 'output') },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/packages': {
        get: operation({
          operationId: 'listPackages',
          tag: 'Catalog',
          summary: 'The catalog',
          ok: {
            status: 200,
            schema: catalogResponse,
            examples: { catalog: { summary: 'two packages', value: ex.catalogExample } },
          },
        }),
      },
      '/v1/purchases': {
        post: operation({
          operationId: 'createPurchase',
          tag: 'Purchases',
          summary: 'Buy a package: creates the purchase and its pending payment',
          description:
            'The amount and currency come from the catalog row read in the same transaction, never from the client. Confirm the payment to charge it.',
          body: createPurchaseBody,
          bodyExamples: { starter: { summary: 'buy the Starter package', value: ex.createPurchaseExample } },
          idempotent: true,
          ok: {
            status: 201,
            schema: createPurchaseResponse,
            examples: {
              created: {
                summary: 'purchase with its pending payment',
                value: ex.createPurchaseResponseExample,
              },
            },
          },
        }),
      },
      '/v1/payments/{payment_id}': {
        get: operation({
          operationId: 'getPayment',
          tag: 'Payments',
          summary: 'A payment',
          description: "The caller's own payment; admins (scope admin) read any.",
          params: [pathId('payment_id')],
          ok: {
            status: 200,
            schema: z.object({ payment: paymentSchema }),
            examples: { pending: { summary: 'a pending payment', value: ex.paymentExample } },
          },
        }),
      },
      '/v1/payments/{payment_id}/confirm': {
        post: operation({
          operationId: 'confirmPayment',
          tag: 'Payments',
          summary: 'Charge the payment through the provider',
          description: 'pending → processing → succeeded or failed (failure_code says why).',
          params: [pathId('payment_id')],
          body: confirmPaymentBody,
          bodyExamples: {
            card_ok: { summary: 'a card the simulated provider accepts', value: ex.confirmPaymentExample },
            declined: {
              summary: 'a card the simulated provider declines',
              value: { payment_method: 'pm_card_declined' },
            },
          },
          idempotent: true,
          ok: {
            status: 200,
            schema: paymentResponse,
            examples: { succeeded: { summary: 'charged', value: ex.confirmedPaymentExample } },
          },
        }),
      },
      '/v1/payments/{payment_id}/refund': {
        post: operation({
          summary:
            'Refund a succeeded payment: refunded, back to succeeded with failure_code (declined), or refunding (no answer yet: settled later)',
          operationId: 'refundPayment',
          tag: 'Payments',
          params: [pathId('payment_id')],
          body: refundPaymentBody,
          bodyExamples: { empty: { summary: 'no parameters', value: {} } },
          idempotent: true,
          ok: {
            status: 200,
            schema: paymentResponse,
            examples: { refunded: { summary: 'refunded', value: ex.refundedPaymentExample } },
          },
        }),
      },
      '/v1/users/{user_id}/purchases': {
        get: operation({
          operationId: 'listUserPurchases',
          tag: 'Purchase package',
          summary: "The user's purchase package, newest first",
          description:
            'Answered from Redis in one round trip; from MySQL while Redis is behind a passed consistency_token.',
          params: [
            pathId('user_id'),
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            },
            queryParam('cursor'),
            queryParam('consistency_token'),
          ],
          ok: {
            status: 200,
            schema: packagePageSchema,
            examples: { page: { summary: 'one paid purchase, last page', value: ex.packagePageExample } },
            headers: {
              'X-Package-Source': 'where the page came from: redis | mysql_miss | mysql_behind',
              'X-Package-Position':
                "the source position (GTID, e.g. 0-1-4711) the page holds at least: Redis's applied position read with the page, or MySQL's committed position read before it",
            },
          },
        }),
      },
      '/v1/admin/users/{user_id}/repair': {
        post: operation({
          operationId: 'repairUserCache',
          tag: 'Admin',
          summary:
            "Admin scope: rebuild one user's cache from MySQL (version-guarded: a newer change from the stream is kept); idempotent by nature, no Idempotency-Key",
          params: [pathId('user_id')],
          ok: {
            status: 200,
            schema: repairResponse,
            examples: { repaired: { summary: "one user's cache rebuilt", value: ex.repairExample } },
          },
          errors: {
            '403': 'the token lacks the admin scope',
          },
        }),
      },
      '/v1/webhooks/provider': {
        post: operation({
          operationId: 'receiveProviderWebhook',
          tag: 'Webhooks',
          summary:
            'Provider callbacks, signed with the webhook secret; 409 payment_not_found_yet + Retry-After while no payment has the reference (redeliver)',
          auth: false,
          params: [
            {
              name: SIGNATURE_HEADER,
              in: 'header',
              required: true,
              schema: { type: 'string', pattern: '^t=\\d{1,12}(,v1=[0-9a-f]{64})+$' },
              description:
                't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; the timestamp must be within the tolerance',
            },
          ],
          body: webhookBody,
          bodyExamples: { succeeded: { summary: 'the provider charged', value: ex.webhookExample } },
          ok: {
            status: 200,
            schema: z.object({ received: z.boolean(), duplicate: z.boolean(), applied: z.boolean() }),
            examples: { applied: { summary: 'recorded and applied', value: ex.webhookResponseExample } },
          },
        }),
      },
      '/v1/webhooks/stripe': {
        post: operation({
          operationId: 'receiveStripeWebhook',
          tag: 'Webhooks',
          summary:
            "Stripe's event deliveries (PAYMENT_PROVIDER=stripe; 503 otherwise): payment_intent.succeeded, payment_intent.payment_failed and charge.refunded move the payment, other events are acknowledged",
          auth: false,
          params: [
            {
              name: STRIPE_SIGNATURE_HEADER,
              in: 'header',
              required: true,
              schema: { type: 'string' },
              description:
                'Stripe\'s t=<unix seconds>,v1=<hex HMAC-SHA256(whsec_…, "<t>.<raw body>")>; within the tolerance (300 s)',
            },
          ],
          body: stripeEventBody,
          bodyExamples: { succeeded: { summary: 'Stripe charged', value: ex.stripeWebhookExample } },
          ok: {
            status: 200,
            schema: z.object({ received: z.boolean(), duplicate: z.boolean(), applied: z.boolean() }),
            examples: { applied: { summary: 'recorded and applied', value: ex.webhookResponseExample } },
          },
        }),
      },
    },
  };
}
