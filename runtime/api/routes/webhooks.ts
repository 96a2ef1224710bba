import type { FastifyRequest } from 'fastify';
import type { Pool } from '../../core/db/pool.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { sendJson } from '../http.ts';
import { fromStripeEvent, stripeEventBody } from '../payments/stripe-webhooks.ts';
import {
  applyWebhook,
  SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  verifySignature,
} from '../payments/webhooks.ts';
import { rawBodyOf } from '../plugins/body.ts';
import { parseInput, webhookBody } from '../schemas.ts';
import type { RouteHandlers } from './table.ts';

const notConfigured = (message: string) => new ApiError(503, 'api_error', 'webhooks_not_configured', message);

export function webhookHandlers(deps: {
  pool: Pool;
  provider: string;
  secret: string | undefined;
  toleranceSeconds: number;
}): Pick<RouteHandlers, 'receiveProviderWebhook' | 'receiveStripeWebhook'> {
  /** The signature covers the exact bytes received, so it is checked before anything is parsed. */
  const verified = (headerName: string, req: FastifyRequest) => {
    if (!deps.secret) throw notConfigured('WEBHOOK_SECRET is not set on this server');
    const header = req.headers[headerName];
    verifySignature(
      deps.secret,
      typeof header === 'string' ? header : undefined,
      rawBodyOf(req),
      deps.toleranceSeconds,
      undefined,
      headerName,
    );
    if (req.body === undefined) throw invalidRequest('body_missing', 'a JSON body is required');
  };

  return {
    receiveProviderWebhook: async (req, reply) => {
      verified(SIGNATURE_HEADER, req);
      const event = parseInput(webhookBody, req.body, 'request body');
      const outcome = await applyWebhook(deps.pool, deps.provider, event);
      return sendJson(reply, 200, JSON.stringify(outcome));
    },

    // Stripe's deliveries (PAYMENT_PROVIDER=stripe): its event shape, mapped onto the same transitions.
    receiveStripeWebhook: async (req, reply) => {
      if (deps.provider !== 'stripe') throw notConfigured('PAYMENT_PROVIDER is not stripe on this server');
      verified(STRIPE_SIGNATURE_HEADER, req);
      const event = fromStripeEvent(parseInput(stripeEventBody, req.body, 'request body'));
      // Events this api does not act on are acknowledged, so Stripe does not deliver them again.
      if (!event)
        return sendJson(reply, 200, JSON.stringify({ received: true, duplicate: false, applied: false }));
      const outcome = await applyWebhook(deps.pool, deps.provider, event);
      return sendJson(reply, 200, JSON.stringify(outcome));
    },
  };
}
