import type { FastifyInstance, FastifyRequest } from 'fastify';
import { admissionOf, assertCanRead, principalOf } from '../http.ts';
import type { PackageReadFn } from '../package/read-package.ts';
import { DEFAULT_PAGE_SIZE, packageListQuery, parseInput } from '../schemas.ts';

/**
 * GET /v1/users/:user_id/purchases — the hot path (Redis, MySQL fallback). The rate-limit count and
 * the Redis read are sent in the same tick (one auto-pipelined write, one round trip); the answer is
 * the limiter's first: a refused request gets its 429 whatever the read found, and never reaches the
 * MySQL fallback.
 */
export function packageRoutes(app: FastifyInstance, deps: { readPackage: PackageReadFn }): void {
  app.get(
    '/v1/users/:user_id/purchases',
    { config: { auth: true, admitInHandler: true } },
    async (req, reply) => {
      const admitted = admissionOf(req);
      const read = readFor(req, admitted);
      // Awaited below once the limiter has answered; a refusal must not leave it unhandled.
      read.catch(() => {});
      await admitted;
      const { body, source } = await read;
      reply.header('x-package-source', source);
      return reply.code(200).type('application/json; charset=utf-8').send(body);
    },
  );

  async function readFor(req: FastifyRequest, admitted: Promise<void>) {
    const { user_id } = req.params as { user_id: string };
    assertCanRead(principalOf(req), user_id);
    const query = parseInput(packageListQuery, req.query, 'query');
    const header = req.headers['x-consistency-token'];
    const token = query.consistency_token ?? (typeof header === 'string' ? header : undefined);
    return deps.readPackage(
      user_id,
      { limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor, consistency_token: token },
      admitted,
    );
  }
}
