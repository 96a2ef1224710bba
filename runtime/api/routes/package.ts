import type { FastifyInstance } from 'fastify';
import { assertCanRead, principalOf } from '../http.ts';
import type { PackageReadFn } from '../package/read-package.ts';
import { DEFAULT_PAGE_SIZE, packageListQuery, parseInput } from '../schemas.ts';

/** GET /v1/users/:user_id/purchases — the hot path (Redis, MySQL fallback). */
export function packageRoutes(app: FastifyInstance, deps: { readPackage: PackageReadFn }): void {
  app.get('/v1/users/:user_id/purchases', { config: { auth: true } }, async (req, reply) => {
    const { user_id } = req.params as { user_id: string };
    assertCanRead(principalOf(req), user_id);
    const query = parseInput(packageListQuery, req.query, 'query');
    const header = req.headers['x-consistency-token'];
    const token = query.consistency_token ?? (typeof header === 'string' ? header : undefined);
    const { body, source } = await deps.readPackage(user_id, {
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      cursor: query.cursor,
      consistency_token: token,
    });
    reply.header('x-package-source', source);
    return reply.code(200).type('application/json; charset=utf-8').send(body);
  });
}
