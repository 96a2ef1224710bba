import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RepairResult } from '../../core/cache/repair.ts';
import { USER_ID_PATTERN } from '../../core/ids.ts';
import { isAdmin } from '../auth.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { principalOf, sendJson } from '../http.ts';

const tableCounts = z.object({ packages: z.number(), purchases: z.number(), payments: z.number() });

/** The answer of a repair (OpenAPI): what MySQL held for the user and what was written. */
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

/**
 * Operator calls, admin scope only.
 * POST /v1/admin/users/:user_id/repair rebuilds that user's cache from MySQL (core/cache/repair.ts):
 * version-guarded, so it is safe against the live stream and idempotent by nature (a repeat converges
 * to the same state), hence no Idempotency-Key.
 */
export function adminRoutes(
  app: FastifyInstance,
  deps: { repairUser: (userId: string) => Promise<RepairResult> },
): void {
  app.post('/v1/admin/users/:user_id/repair', { config: { auth: true } }, async (req, reply) => {
    if (!isAdmin(principalOf(req))) {
      throw new ApiError(
        403,
        'permission_error',
        'admin_scope_required',
        'this operation needs the admin scope',
      );
    }
    const { user_id } = req.params as { user_id: string };
    if (!USER_ID_PATTERN.test(user_id)) throw invalidRequest('user_id_invalid', 'not a user id', 'user_id');
    let repaired: RepairResult;
    try {
      repaired = await deps.repairUser(user_id);
    } catch (err) {
      // Its only dependencies are MySQL and Redis: a failure is theirs, and a retry is safe.
      req.log.error({ err, user_id }, 'repair failed');
      throw new ApiError(503, 'api_error', 'dependency_unavailable', 'MySQL or Redis did not answer; retry', {
        headers: { 'retry-after': '5' },
      });
    }
    return sendJson(reply, 200, JSON.stringify({ repaired }));
  });
}
