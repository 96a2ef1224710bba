import type { RepairResult } from '../../core/cache/repair.ts';
import { USER_ID_PATTERN } from '../../core/ids.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { sendJson } from '../http.ts';
import type { RouteHandlers } from './table.ts';

/**
 * Operator calls, admin scope only (admission refuses other tokens with 403).
 * POST /v1/admin/users/:user_id/repair rebuilds that user's cache from MySQL (core/cache/repair.ts):
 * version-guarded, so it is safe against the live stream and idempotent by nature (a repeat converges
 * to the same state), hence no Idempotency-Key.
 */
export function adminHandlers(deps: {
  repairUser: (userId: string) => Promise<RepairResult>;
}): Pick<RouteHandlers, 'repairUserCache'> {
  return {
    repairUserCache: async (req, reply) => {
      const { user_id } = req.params as { user_id: string };
      if (!USER_ID_PATTERN.test(user_id)) throw invalidRequest('user_id_invalid', 'not a user id', 'user_id');
      let repaired: RepairResult;
      try {
        repaired = await deps.repairUser(user_id);
      } catch (err) {
        // Its only dependencies are MySQL and Redis: a failure is theirs, and a retry is safe.
        req.log.error({ err, user_id }, 'repair failed');
        throw new ApiError(
          503,
          'api_error',
          'dependency_unavailable',
          'MySQL or Redis did not answer; retry',
          {
            headers: { 'retry-after': '5' },
          },
        );
      }
      return sendJson(reply, 200, JSON.stringify({ repaired }));
    },
  };
}
