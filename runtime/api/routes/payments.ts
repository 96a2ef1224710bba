import type { FastifyInstance } from 'fastify';
import type { Pool } from '../../core/db/pool.ts';
import { isAdmin } from '../auth.ts';
import { idempotencyKeyOf, principalOf, sendJson } from '../http.ts';
import type { PaymentService } from '../payments/service.ts';
import { confirmPaymentBody, createPurchaseBody, parseInput, refundPaymentBody } from '../schemas.ts';
import { listActivePackages } from '../store/catalog.ts';

export function paymentRoutes(app: FastifyInstance, deps: { pool: Pool; payments: PaymentService }): void {
  const auth = { config: { auth: true } };

  app.get('/v1/packages', auth, async (_req, reply) => {
    const items = await listActivePackages(deps.pool);
    return sendJson(reply, 200, JSON.stringify({ items }));
  });

  app.post('/v1/purchases', auth, async (req, reply) => {
    const idempotencyKey = idempotencyKeyOf(req);
    const params = parseInput(createPurchaseBody, req.body, 'request body');
    const result = await deps.payments.createPurchase(
      { principal: principalOf(req), idempotencyKey, method: 'POST', path: '/v1/purchases' },
      params,
    );
    reply.header('idempotent-replayed', String(result.replayed));
    return sendJson(reply, result.status, result.body);
  });

  app.get('/v1/payments/:payment_id', auth, async (req, reply) => {
    const { payment_id } = req.params as { payment_id: string };
    const principal = principalOf(req);
    const body = await deps.payments.getPayment(principal, payment_id, isAdmin(principal));
    return sendJson(reply, 200, JSON.stringify(body));
  });

  for (const action of ['confirm', 'refund'] as const) {
    app.post(`/v1/payments/:payment_id/${action}`, auth, async (req, reply) => {
      const { payment_id } = req.params as { payment_id: string };
      const idempotencyKey = idempotencyKeyOf(req);
      const write = {
        principal: principalOf(req),
        idempotencyKey,
        method: 'POST',
        path: `/v1/payments/${payment_id}/${action}`,
      };
      const result =
        action === 'confirm'
          ? await deps.payments.confirmPayment(
              write,
              payment_id,
              parseInput(confirmPaymentBody, req.body ?? {}, 'request body'),
            )
          : await deps.payments.refundPayment(
              write,
              payment_id,
              parseInput(refundPaymentBody, req.body ?? {}, 'request body'),
            );
      reply.header('idempotent-replayed', String(result.replayed));
      return sendJson(reply, result.status, result.body);
    });
  }
}
