import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin, type Principal } from './auth.ts';
import { ApiError, invalidRequest, notFound } from './errors.ts';
import { idempotencyKeySchema } from './schemas.ts';

// Small request/response helpers shared by the route modules. Per-request state lives in request
// decorations (the caller in plugins/admission.ts, the raw body in plugins/body.ts, the
// Idempotency-Key in routes/register.ts): a property on fastify's request object costs far less per
// request than a WeakMap entry.

declare module 'fastify' {
  interface FastifyRequest {
    apiIdempotencyKey: string | null;
  }
}

const USER_ID = /^[A-Za-z0-9_.:@-]{1,64}$/;

/** Another user's data answers 404, exactly like data that does not exist; admins may read any. */
export function assertCanRead(p: Principal, userId: string): void {
  if (!USER_ID.test(userId) || (userId !== p.userId && !isAdmin(p))) throw notFound('user');
}

/** The request's Idempotency-Key, or the 400 naming it (routes/register.ts runs it for routes that take one). */
export function checkIdempotencyKey(req: FastifyRequest): string {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) {
    throw invalidRequest(
      'idempotency_key_missing',
      'the Idempotency-Key header is required',
      'Idempotency-Key',
    );
  }
  const parsed = idempotencyKeySchema.safeParse(raw);
  if (!parsed.success) {
    throw invalidRequest(
      'idempotency_key_invalid',
      'Idempotency-Key must be 8 to 255 characters: letters, digits, _ . : -',
      'Idempotency-Key',
    );
  }
  return parsed.data;
}

/** The checked Idempotency-Key of a route whose table entry takes one. */
export function idempotencyKeyOf(req: FastifyRequest): string {
  const key = req.apiIdempotencyKey;
  if (key === null) throw new ApiError(500, 'api_error', 'internal_error', 'route takes no Idempotency-Key');
  return key;
}

/** Sends an already-serialised JSON body (stored idempotent responses go out byte for byte). */
export function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}
