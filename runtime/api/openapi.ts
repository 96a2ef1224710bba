import { z } from 'zod';
import * as ex from './openapi-examples.ts';
import { type Example, type RouteSpec, routeTable } from './routes/table.ts';
import { errorSchema, idempotencyKeySchema, paymentSchema } from './schemas.ts';

// The OpenAPI 3.1 document, generated from the route table (routes/table.ts) and the zod schemas
// the handlers validate with: a route is documented as it is registered, never restated here.

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

/** `/v1/payments/:payment_id` → `/v1/payments/{payment_id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parametersOf(spec: RouteSpec): Record<string, unknown>[] {
  const parameters: Record<string, unknown>[] = [];
  for (const [, name] of spec.url.matchAll(/:([A-Za-z0-9_]+)/g)) {
    parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }
  if (spec.query) {
    for (const [name, field] of Object.entries(spec.query.schema.shape)) {
      const optional = field instanceof z.ZodOptional;
      const documented = spec.query.docs?.[name];
      const { description: inner, ...schema } = documented
        ? { description: undefined, ...documented }
        : (json(optional ? field.unwrap() : field, 'input') as { description?: string });
      const description = field.description ?? inner;
      parameters.push({
        name,
        in: 'query',
        ...(optional ? {} : { required: true }),
        schema,
        ...(description ? { description } : {}),
      });
    }
  }
  for (const header of spec.headers ?? []) {
    parameters.push({
      name: header.name,
      in: 'header',
      required: true,
      schema: json(header.schema, 'input'),
      description: header.description,
    });
  }
  if (spec.idempotencyKey) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: true,
      schema: json(idempotencyKeySchema, 'input'),
      description: 'replays return the first response; reuse with other parameters is refused (422)',
    });
  }
  return parameters;
}

function operation(operationId: string, spec: RouteSpec) {
  const parameters = parametersOf(spec);
  const { response, body } = spec;
  const errors = {
    ...(spec.auth === 'admin' ? { '403': 'the token lacks the admin scope' } : {}),
    ...spec.errors,
  };
  return {
    operationId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.auth === 'none' ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: json(body.schema, 'input'),
                examples: checkedAll(body.schema, body.examples),
              },
            },
          },
        }
      : {}),
    responses: {
      [response.status]: {
        description: 'success',
        ...(response.headers
          ? {
              headers: Object.fromEntries(
                Object.entries(response.headers).map(([name, description]) => [
                  name,
                  { description, schema: { type: 'string' } },
                ]),
              ),
            }
          : {}),
        content: {
          'application/json': {
            schema: json(response.schema, 'output'),
            examples: checkedAll(response.schema, response.examples),
          },
        },
      },
      '400': errorResponse('400', 'invalid request'),
      ...(spec.auth === 'none' ? {} : { '401': errorResponse('401', 'missing or invalid token') }),
      '404': errorResponse('404', "not found (also: another user's object)"),
      '409': errorResponse(
        '409',
        'conflict: illegal state transition or concurrent use of the Idempotency-Key',
      ),
      '405': errorResponse('405', 'the path does not take this method (see the Allow header)', {
        Allow: { description: 'the methods the path takes', schema: { type: 'string' } },
      }),
      ...(body
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
      ...Object.fromEntries(Object.entries(errors).map(([status, d]) => [status, errorResponse(status, d)])),
    },
  };
}

/** The document's paths, in the table's order. */
function paths(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [operationId, spec] of Object.entries(routeTable) as [string, RouteSpec][]) {
    const path = openApiPath(spec.url);
    out[path] = { ...out[path], [spec.method.toLowerCase()]: operation(operationId, spec) };
  }
  return out;
}

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
    paths: paths(),
  };
}
