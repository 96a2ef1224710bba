import type { FastifyInstance } from 'fastify';
import type { Pool } from '../../core/db/pool.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { rawBodyOf, sendJson } from '../http.ts';
import { applyWebhook, SIGNATURE_HEADER, verifySignature } from '../payments/webhooks.ts';
import { parseInput, webhookBody } from '../schemas.ts';

export function webhookRoutes(
  app: FastifyInstance,
  deps: { pool: Pool; provider: string; secret: string | undefined; toleranceSeconds: number },
): void {
  app.post('/v1/webhooks/provider', { config: { auth: false } }, async (req, reply) => {
    if (!deps.secret) {
      throw new ApiError(
        503,
        'api_error',
        'webhooks_not_configured',
        'WEBHOOK_SECRET is not set on this server',
      );
    }
    const header = req.headers[SIGNATURE_HEADER];
    // The signature covers the exact bytes received, so it is checked before anything is parsed.
    verifySignature(
      deps.secret,
      typeof header === 'string' ? header : undefined,
      rawBodyOf(req),
      deps.toleranceSeconds,
    );
    if (req.body === undefined) throw invalidRequest('body_missing', 'a JSON body is required');
    const event = parseInput(webhookBody, req.body, 'request body');
    const outcome = await applyWebhook(deps.pool, deps.provider, event);
    return sendJson(reply, 200, JSON.stringify(outcome));
  });
}
