import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../../core/db/pool.ts';
import { isAdmin } from '../auth.ts';
import { idempotencyKeyOf, sendJson } from '../http.ts';
import type { PaymentService } from '../payments/service.ts';
import { principalOf } from '../plugins/admission.ts';
import { confirmPaymentBody, createPurchaseBody, parseInput, refundPaymentBody } from '../schemas.ts';
import { listActivePackages } from '../store/catalog.ts';
import type { RouteHandlers } from './table.ts';

/** The catalog, purchases and payments (routes in table.ts). */
export function paymentHandlers(deps: {
  pool: Pool;
  payments: PaymentService;
}): Pick<
  RouteHandlers,
  'listPackages' | 'createPurchase' | 'getPayment' | 'confirmPayment' | 'refundPayment'
> {
  return {
    listPackages: async (_req, reply) => {
      const items = await listActivePackages(deps.pool);
      return sendJson(reply, 200, JSON.stringify({ items }));
    },

    createPurchase: async (req, reply) => {
      const idempotencyKey = idempotencyKeyOf(req);
      const params = parseInput(createPurchaseBody, req.body, 'request body');
      const result = await deps.payments.createPurchase(
        { principal: principalOf(req), idempotencyKey, method: 'POST', path: '/v1/purchases' },
        params,
      );
      reply.header('idempotent-replayed', String(result.replayed));
      return sendJson(reply, result.status, result.body);
    },

    getPayment: async (req, reply) => {
      const { payment_id } = req.params as { payment_id: string };
      const principal = principalOf(req);
      const body = await deps.payments.getPayment(principal, payment_id, isAdmin(principal));
      return sendJson(reply, 200, JSON.stringify(body));
    },

    confirmPayment: (req, reply) => paymentAction('confirm', req, reply),
    refundPayment: (req, reply) => paymentAction('refund', req, reply),
  };

  async function paymentAction(action: 'confirm' | 'refund', req: FastifyRequest, reply: FastifyReply) {
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
  }
}
