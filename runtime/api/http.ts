import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin, type Principal } from './auth.ts';
import { ApiError, invalidRequest, notFound } from './errors.ts';
import { idempotencyKeySchema } from './schemas.ts';

// Small request/response helpers shared by the route modules. Per-request state lives in request
// decorations (declared below, registered by `decorateRequests`): a property on fastify's request
// object costs far less per request than a WeakMap entry.

declare module 'fastify' {
  interface FastifyRequest {
    apiPrincipal: Principal | null;
    apiAdmission: Promise<void> | null;
    apiRawBody: string | null;
  }
}

export function decorateRequests(app: FastifyInstance): void {
  app.decorateRequest('apiPrincipal', null);
  app.decorateRequest('apiAdmission', null);
  app.decorateRequest('apiRawBody', null);
}

export function setPrincipal(req: FastifyRequest, p: Principal): void {
  req.apiPrincipal = p;
}

/** The authenticated caller; routes marked `auth: true` always have one. */
export function principalOf(req: FastifyRequest): Principal {
  const p = req.apiPrincipal;
  if (!p) throw new ApiError(500, 'api_error', 'internal_error', 'route has no principal');
  return p;
}

/** The admission of a request the limiter let through synchronously (its local buckets had tokens). */
export const ADMITTED: Promise<void> = Promise.resolve();

/** The request's pending rate-limit check (routes with `admitInHandler`); rejects with the 429. */
export function setAdmission(req: FastifyRequest, check: Promise<void>): void {
  req.apiAdmission = check;
}

export function admissionOf(req: FastifyRequest): Promise<void> {
  const check = req.apiAdmission;
  if (!check) throw new ApiError(500, 'api_error', 'internal_error', 'route has no rate-limit check');
  return check;
}

export function setRawBody(req: FastifyRequest, body: string): void {
  req.apiRawBody = body;
}

export function rawBodyOf(req: FastifyRequest): string {
  return req.apiRawBody ?? '';
}

const USER_ID = /^[A-Za-z0-9_.:@-]{1,64}$/;

/** Another user's data answers 404, exactly like data that does not exist; admins may read any. */
export function assertCanRead(p: Principal, userId: string): void {
  if (!USER_ID.test(userId) || (userId !== p.userId && !isAdmin(p))) throw notFound('user');
}

export function idempotencyKeyOf(req: FastifyRequest): string {
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

/** Sends an already-serialised JSON body (stored idempotent responses go out byte for byte). */
export function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}
