import type { FastifyReply, FastifyRequest } from 'fastify';
import { assertCanRead } from '../http.ts';
import type { PackageReadFn, PackageSource } from '../package/read-package.ts';
import { ADMITTED, admissionOf, principalOf } from '../plugins/admission.ts';
import { DEFAULT_PAGE_SIZE, packageListQuery, parseInput } from '../schemas.ts';
import type { RouteHandlers } from './table.ts';

/**
 * GET /v1/users/:user_id/purchases (listUserPurchases in table.ts) — the hot path. The limiter answers first: a refused request gets
 * its 429 whatever the read would have found, and never reaches the MySQL fallback.
 * - Admitted synchronously (the limiter's local buckets had tokens) and the page is in the near cache:
 *   answered without a promise.
 * - Otherwise the read (near cache, Redis, MySQL fallback) starts at once; when the limiter has to
 *   lease tokens from Redis, that call and the Redis read leave in the same tick (one auto-pipelined
 *   write, one round trip), and the answer waits for the limiter's decision.
 */
export function packageHandlers(deps: {
  readPackage: PackageReadFn;
}): Pick<RouteHandlers, 'listUserPurchases'> {
  return {
    listUserPurchases: (req, reply) => {
      const admitted = admissionOf(req);
      if (admitted === ADMITTED) {
        // Admitted already: a 404 or 400 from the checks is the answer.
        const query = queryOf(req);
        const held = deps.readPackage.peek(query.userId, query.read);
        if (held) return send(reply, held.body, 'redis', held.position);
      }
      return readAndSend(req, reply, admitted);
    },
  };

  async function readAndSend(req: FastifyRequest, reply: FastifyReply, admitted: Promise<void>) {
    // Checks and read start now (the read rides the limiter's round trip); a 404 / 400 they throw
    // becomes a rejection awaited after the limiter, whose 429 answers first.
    const read = (async () => {
      const query = queryOf(req);
      return deps.readPackage(query.userId, query.read, admitted);
    })();
    // Awaited below once the limiter has answered; a refusal must not leave it unhandled.
    read.catch(() => {});
    await admitted;
    const { body, source, position } = await read;
    return send(reply, body, source, position);
  }

  /** Validation and access: throws the 404 / 400 before anything is read. */
  function queryOf(req: FastifyRequest) {
    const { user_id } = req.params as { user_id: string };
    assertCanRead(principalOf(req), user_id);
    // Most reads carry no query string: nothing to validate, the defaults apply (zod costs µs per call).
    const query = hasKeys(req.query) ? parseInput(packageListQuery, req.query, 'query') : NO_QUERY;
    const header = req.headers['x-consistency-token'];
    const token = query.consistency_token ?? (typeof header === 'string' ? header : undefined);
    return {
      userId: user_id,
      read: { limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor, consistency_token: token },
    };
  }
}

const NO_QUERY: { limit?: number; cursor?: string; consistency_token?: string } = Object.freeze({});

function hasKeys(query: unknown): boolean {
  if (typeof query !== 'object' || query === null) return query !== undefined;
  for (const _ in query) return true;
  return false;
}

/**
 * `X-Package-Position`: the source position (GTID) the page holds at least — Redis's applied position
 * read with the page (held pages keep the one they were read with), or MySQL's committed position
 * read before the fallback query. Absent only when neither has one yet.
 */
function send(reply: FastifyReply, body: Buffer | string, source: PackageSource, position: string | null) {
  reply.header('x-package-source', source);
  if (position) reply.header('x-package-position', position);
  return reply.code(200).type('application/json; charset=utf-8').send(body);
}
