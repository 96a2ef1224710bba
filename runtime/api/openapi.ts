import { z } from 'zod';
import { SIGNATURE_HEADER } from './payments/webhooks.ts';
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

type Op = {
  summary: string;
  body?: z.ZodType;
  ok: { status: number; schema: z.ZodType };
  idempotent?: boolean;
  auth?: boolean;
  params?: Record<string, unknown>[];
};

const json = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' });
const errorResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
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
    summary: op.summary,
    ...(op.auth === false ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: json(op.body, 'input') } },
          },
        }
      : {}),
    responses: {
      [op.ok.status]: {
        description: 'success',
        content: { 'application/json': { schema: json(op.ok.schema, 'output') } },
      },
      '400': errorResponse('invalid request'),
      ...(op.auth === false ? {} : { '401': errorResponse('missing or invalid token') }),
      '404': errorResponse("not found (also: another user's object)"),
      '409': errorResponse('conflict: illegal state transition or concurrent use of the Idempotency-Key'),
      '405': errorResponse('the path does not take this method (see the Allow header)', {
        Allow: { description: 'the methods the path takes', schema: { type: 'string' } },
      }),
      ...(op.body
        ? {
            '413': errorResponse('the request body is too large'),
            '415': errorResponse('the body is not application/json'),
          }
        : {}),
      '414': errorResponse('the URI (or a path parameter) is too long'),
      '422': errorResponse('Idempotency-Key reused with different parameters'),
      '429': errorResponse('rate limited', retryAfter),
      '431': errorResponse('the request headers are too large'),
      '503': errorResponse(
        'a dependency (database, cache) is unavailable: retry after Retry-After',
        retryAfter,
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
    info: { title: 'Payment API', version: '1.0.0' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: json(errorSchema, 'output'), Payment: json(paymentSchema, 'output') },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/packages': {
        get: operation({ summary: 'The catalog', ok: { status: 200, schema: catalogResponse } }),
      },
      '/v1/purchases': {
        post: operation({
          summary: 'Buy a package: creates the purchase and its pending payment',
          body: createPurchaseBody,
          idempotent: true,
          ok: { status: 201, schema: createPurchaseResponse },
        }),
      },
      '/v1/payments/{payment_id}': {
        get: operation({
          summary: 'A payment',
          params: [pathId('payment_id')],
          ok: { status: 200, schema: z.object({ payment: paymentSchema }) },
        }),
      },
      '/v1/payments/{payment_id}/confirm': {
        post: operation({
          summary: 'Charge the payment through the provider',
          params: [pathId('payment_id')],
          body: confirmPaymentBody,
          idempotent: true,
          ok: { status: 200, schema: paymentResponse },
        }),
      },
      '/v1/payments/{payment_id}/refund': {
        post: operation({
          summary:
            'Refund a succeeded payment: refunded, back to succeeded with failure_code (declined), or refunding (no answer yet: settled later)',
          params: [pathId('payment_id')],
          body: refundPaymentBody,
          idempotent: true,
          ok: { status: 200, schema: paymentResponse },
        }),
      },
      '/v1/users/{user_id}/purchases': {
        get: operation({
          summary: "The user's purchase package, newest first",
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
          ok: { status: 200, schema: packagePageSchema },
        }),
      },
      '/v1/webhooks/provider': {
        post: operation({
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
          ok: {
            status: 200,
            schema: z.object({ received: z.boolean(), duplicate: z.boolean(), applied: z.boolean() }),
          },
        }),
      },
    },
  };
}

/** A dependency-free docs page listing the operations (no CDN needed). */
export function renderDocsPage(doc: Record<string, unknown>): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(
    doc.paths as Record<string, Record<string, { summary: string }>>,
  )) {
    for (const [method, op] of Object.entries(ops)) {
      rows.push(
        `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td></tr>`,
      );
    }
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>Payment API</title></head><body>
<h1>Payment API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table border="1" cellpadding="4"><tr><th>Method</th><th>Path</th><th>What</th></tr>${rows.join('')}</table></body></html>`;
}
