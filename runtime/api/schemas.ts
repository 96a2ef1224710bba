import { z } from 'zod';
import { CURSOR_PATTERN, MAX_CURSOR_LENGTH } from '../core/cache/cursor.ts';
import { MAX_PAGE_SIZE } from '../core/cache/reader.ts';
import { PAYMENT_STATUSES } from '../core/db/schema.ts';
import { invalidRequest } from './errors.ts';

// One set of zod schemas validates requests, types the handlers and generates the OpenAPI document.

export const DEFAULT_PAGE_SIZE = 20;

const packageId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a package id');
const currency = z
  .string()
  .regex(/^[A-Z]{3}$/)
  .describe('ISO 4217 currency code');
const minorUnits = z.number().int().nonnegative().describe('integer amount in minor units of `currency`');
const timestamp = z.string().describe('ISO 8601 UTC timestamp with microseconds');
const paymentStatus = z.enum(PAYMENT_STATUSES);

export const idempotencyKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{8,255}$/, '8 to 255 characters: letters, digits, _ . : -');

export const createPurchaseBody = z.strictObject({ package_id: packageId });
export const confirmPaymentBody = z.strictObject({
  payment_method: z
    .string()
    .regex(/^pm_[a-z0-9_]{1,60}$/, 'must look like pm_...')
    .optional()
    .describe('simulated provider: pm_card_ok, pm_card_declined, pm_card_insufficient_funds, pm_card_async'),
});
export const refundPaymentBody = z.strictObject({});

export const packageListQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be an integer between 1 and ${MAX_PAGE_SIZE}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_PAGE_SIZE))
    .optional(),
  cursor: z
    .string()
    .min(1)
    .max(MAX_CURSOR_LENGTH)
    .regex(new RegExp(CURSOR_PATTERN), 'must be a next_cursor from a previous page')
    .optional()
    .describe("a previous page's next_cursor (opaque)"),
  consistency_token: z
    .string()
    .min(1)
    .max(2048)
    .regex(/^[A-Za-z0-9_.-]+$/, 'must be a consistency_token from a write')
    .optional()
    .describe(
      "from a write, opaque and signed for the write's user: the answer includes that write (or header X-Consistency-Token); another user's, edited or unknown tokens are 400",
    ),
});

/** How `limit` is documented: the integer it stands for, not the query-string text the schema parses. */
export const packageListQueryDocs = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
};

export const webhookBody = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
  type: z.enum(['payment.succeeded', 'payment.failed', 'payment.refunded']),
  data: z.object({
    provider_ref: z.string().min(1).max(128),
    failure_code: z
      .string()
      .regex(/^[a-z0-9_]{1,64}$/)
      .optional(),
  }),
});

export const packageSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  price: z.object({ amount: minorUnits, currency }),
});

export const purchaseSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  package_id: z.string(),
  amount: minorUnits,
  currency,
  created_at: timestamp,
});

export const paymentSchema = z.object({
  id: z.string(),
  purchase_id: z.string(),
  user_id: z.string(),
  amount: minorUnits,
  currency,
  status: paymentStatus,
  provider: z.string(),
  failure_code: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

const consistencyToken = z.string().nullable().describe('pass as `consistency_token` to read your own write');

export const createPurchaseResponse = z.object({
  purchase: purchaseSchema,
  payment: paymentSchema,
  consistency_token: consistencyToken,
});

export const paymentResponse = z.object({ payment: paymentSchema, consistency_token: consistencyToken });

export const packageEntrySchema = z.object({
  purchase_id: z.string(),
  user_id: z.string(),
  package: z.object({ id: z.string(), name: z.string() }),
  amount: minorUnits,
  currency,
  payment: z.object({ id: z.string(), status: paymentStatus }).nullable(),
  paid: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const packagePageSchema = z.object({
  items: z.array(packageEntrySchema),
  next_cursor: z.string().nullable(),
});

export const catalogResponse = z.object({ items: z.array(packageSchema) });

export const getPaymentResponse = z.object({ payment: paymentSchema });

/** What a webhook delivery did: recorded (or a duplicate of one recorded) and applied to the payment. */
export const webhookResponse = z.object({
  received: z.boolean(),
  duplicate: z.boolean(),
  applied: z.boolean(),
});

const tableCounts = z.object({ packages: z.number(), purchases: z.number(), payments: z.number() });

/** The answer of a repair: what MySQL held for the user and what was written. */
export const repairResponse = z.object({
  repaired: z.object({
    user: z.string(),
    gtid: z.string().nullable().describe('the source position of the snapshot the repair read'),
    version: z.string().describe('the version it wrote with: newer changes in Redis were left alone'),
    rows: tableCounts.describe("the user's rows read from MySQL"),
    applied: z.number().describe('rows written (not newer in Redis)'),
    tombstoned: z.number().describe('rows Redis held for the user that MySQL does not have'),
    unlisted: z.number().describe("index members and entries of purchases that are not the user's"),
  }),
});

export const errorSchema = z.object({
  error: z.object({
    type: z.enum([
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found',
      'idempotency_error',
      'conflict',
      'rate_limit_error',
      'api_error',
    ]),
    code: z.string(),
    message: z.string(),
    param: z.string().optional(),
  }),
});

export type PackageView = z.infer<typeof packageSchema>;
export type PurchaseView = z.infer<typeof purchaseSchema>;
export type PaymentView = z.infer<typeof paymentSchema>;

/** Validates `value` or throws a 400 naming the first offending parameter. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw invalidRequest('parameter_invalid', `invalid ${where}`);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    throw invalidRequest('parameter_unknown', `unknown parameter in ${where}: ${key}`, key);
  }
  const param = issue.path.map(String).join('.');
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    throw invalidRequest('parameter_missing', `missing required parameter in ${where}: ${param}`, param);
  }
  throw invalidRequest(
    'parameter_invalid',
    `invalid ${param ? `parameter ${param}` : where}: ${issue.message}`,
    param || undefined,
  );
}

// The package entry is defined by the cache contract (runtime/core/cache/types.ts); the schema that
// documents it must describe exactly that type, or this stops compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type PackageEntrySchemaMatchesContract = Assert<
  Same<z.infer<typeof packagePageSchema>, import('../core/cache/types.ts').PackagePage>
>;
