import type { Pool } from '../../core/db/pool.ts';
import { isId } from '../../core/ids.ts';
import { withTimeout } from '../../core/timeout.ts';
import type { Principal } from '../auth.ts';
import type { TokenSigner } from '../consistency-token.ts';
import { ApiError, notFound } from '../errors.ts';
import {
  claimKey,
  type IdempotencyScope,
  requestHash,
  type StoredResponse,
  storeResponse,
} from '../idempotency.ts';
import { findActivePackage } from '../store/catalog.ts';
import {
  attachProviderRef,
  findPayment,
  insertPurchase,
  paymentView,
  type StoredPayment,
  updatePaymentStatus,
} from '../store/payments.ts';
import type { SourcePosition } from '../store/source-position.ts';
import { type CommitPosition, inTransaction, type Tx } from '../store/transaction.ts';
import type { ChargeResult, PaymentProvider, RefundResult } from './provider.ts';
import { providerChargeKey, providerRefundKey, settleRefund } from './refund.ts';
import { canTransition } from './state-machine.ts';

/** A response as it goes on the wire; `replayed` marks an idempotent replay of an earlier one. */
export type WriteResult = StoredResponse & { replayed: boolean };

export type PaymentServiceDeps = {
  pool: Pool;
  provider: PaymentProvider;
  /** Signs each write's consistency token for its user. */
  tokens: TokenSigner;
  /** Learns this replica's commits, so their tokens verify without asking the database. */
  source: SourcePosition;
  idempotencyTtlHours: number;
  /** A charge not answered by then has an unknown outcome (default 20 s; keep it well below the recovery's staleness). */
  providerTimeoutMs?: number;
};

const DEFAULT_PROVIDER_TIMEOUT_MS = 20_000;

type Write = { principal: Principal; idempotencyKey: string; method: string; path: string };

const invalidState = (p: StoredPayment, action: string) =>
  new ApiError(409, 'conflict', 'payment_invalid_state', `cannot ${action} a payment that is ${p.status}`);

const paymentGone = (action = 'confirmed') =>
  new ApiError(404, 'not_found', 'resource_missing', `the payment was deleted while it was being ${action}`);

/** Purchases and payment transitions; every write is idempotent and returns a consistency token. */
export function createPaymentService(deps: PaymentServiceDeps) {
  const { pool, provider, idempotencyTtlHours: ttl } = deps;

  const scopeOf = (w: Write, params: unknown): IdempotencyScope => ({
    userId: w.principal.userId,
    key: w.idempotencyKey,
    method: w.method,
    path: w.path,
    requestHash: requestHash(w.method, w.path, params),
  });

  /** Adds the commit's token to the body and stores the final response for replays. */
  async function finish(
    scope: IdempotencyScope,
    status: number,
    body: Record<string, unknown>,
    position: CommitPosition | null,
    rows: string[],
  ): Promise<WriteResult> {
    if (position) deps.source.observe(position.sequence);
    const token = position
      ? deps.tokens.sign(scope.userId, { gtid: position.gtid, sequence: position.sequence.toString(), rows })
      : null;
    const response = { status, body: JSON.stringify({ ...body, consistency_token: token }) };
    await storeResponse(pool, scope, response);
    return { ...response, replayed: false };
  }

  async function ownPayment(tx: Tx, principal: Principal, id: string): Promise<StoredPayment> {
    const payment = isId('pay', id) ? await findPayment(tx, id, true) : null;
    // Another user's payment is indistinguishable from a missing one.
    if (!payment || payment.user_id !== principal.userId) throw notFound('payment');
    return payment;
  }

  return {
    async createPurchase(w: Write, params: { package_id: string }): Promise<WriteResult> {
      const scope = scopeOf(w, params);
      const { value, position } = await inTransaction(pool, async (tx) => {
        const claim = await claimKey(tx, scope, ttl);
        if (claim.kind === 'replay') return claim;
        const pkg = await findActivePackage(tx, params.package_id);
        if (!pkg) {
          throw new ApiError(404, 'not_found', 'package_not_found', 'no such package', {
            param: 'package_id',
          });
        }
        const created = await insertPurchase(tx, w.principal.userId, pkg, provider.name);
        const body = { purchase: created.purchase, payment: paymentView(created.payment) };
        await storeResponse(tx, scope, {
          status: 201,
          body: JSON.stringify({ ...body, consistency_token: null }),
        });
        return { kind: 'created' as const, body };
      });
      if (value.kind === 'replay') return { ...value.response, replayed: true };
      const rows = [`purchases:${value.body.purchase.id}`, `payments:${value.body.payment.id}`];
      return finish(scope, 201, value.body, position, rows);
    },

    async confirmPayment(w: Write, id: string, params: { payment_method?: string }): Promise<WriteResult> {
      const scope = scopeOf(w, params);
      // 1st transaction: claim the key and record that the provider is being asked.
      const started = await inTransaction(pool, async (tx) => {
        const claim = await claimKey(tx, scope, ttl);
        if (claim.kind === 'replay') return claim;
        const payment = await ownPayment(tx, w.principal, id);
        if (!canTransition(payment.status, 'processing')) throw invalidState(payment, 'confirm');
        const processing = await updatePaymentStatus(tx, id, payment.status, 'processing');
        if (!processing) throw invalidState(payment, 'confirm');
        return { kind: 'processing' as const, payment: processing };
      });
      if (started.value.kind === 'replay') return { ...started.value.response, replayed: true };
      const payment = started.value.payment;

      // null: the provider did not answer (error, timeout). The charge may still have happened, so the
      // payment is not failed: it stays processing and the recovery asks the provider later.
      let outcome: ChargeResult | null;
      try {
        outcome = await withTimeout(
          provider.charge({
            paymentId: payment.id,
            amount: payment.amount,
            currency: payment.currency,
            paymentMethod: params.payment_method ?? 'pm_card_ok',
            idempotencyKey: providerChargeKey(scope, payment.id),
          }),
          deps.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
          () => new Error('the provider did not answer in time'),
        );
      } catch {
        outcome = null;
      }

      // 2nd transaction: the provider's answer. A webhook may have settled it already; then keep that.
      const settled = await inTransaction(pool, async (tx) => {
        let updated: StoredPayment | null;
        if (outcome === null) {
          updated = null;
        } else if (outcome.outcome === 'processing') {
          updated = await attachProviderRef(tx, payment.id, outcome.providerRef);
        } else {
          updated = await updatePaymentStatus(tx, payment.id, 'processing', outcome.outcome, {
            provider_ref: outcome.providerRef,
            failure_code: outcome.outcome === 'failed' ? outcome.failureCode : null,
          });
        }
        const current = updated ?? (await findPayment(tx, payment.id));
        if (!current) {
          // Deleted (in SQL) while the provider was asked: answer 404, and store it so the key's
          // retries replay it instead of waiting forever on a request that never completes.
          const gone = { status: 404, body: JSON.stringify(paymentGone().toBody()) };
          await storeResponse(tx, scope, gone);
          return { kind: 'gone' as const, response: gone };
        }
        const body = { payment: paymentView(current) };
        await storeResponse(tx, scope, {
          status: 200,
          body: JSON.stringify({ ...body, consistency_token: null }),
        });
        return { kind: 'settled' as const, body };
      });
      if (settled.value.kind === 'gone') return { ...settled.value.response, replayed: false };
      const rows = [`payments:${payment.id}`];
      return finish(scope, 200, settled.value.body, settled.position ?? started.position, rows);
    },

    async refundPayment(w: Write, id: string, params: Record<string, never>): Promise<WriteResult> {
      const scope = scopeOf(w, params);
      // 1st transaction: claim the key and record that the provider is being asked. Committed before
      // the call, so no row lock is held while the provider answers, and a second refund of the
      // payment (any key) finds it `refunding` and is refused.
      const started = await inTransaction(pool, async (tx) => {
        const claim = await claimKey(tx, scope, ttl);
        if (claim.kind === 'replay') return claim;
        const payment = await ownPayment(tx, w.principal, id);
        if (!canTransition(payment.status, 'refunding')) throw invalidState(payment, 'refund');
        const refunding = await updatePaymentStatus(tx, id, payment.status, 'refunding');
        if (!refunding) throw invalidState(payment, 'refund');
        return { kind: 'refunding' as const, payment: refunding };
      });
      if (started.value.kind === 'replay') return { ...started.value.response, replayed: true };
      const payment = started.value.payment;

      // null: no answer (error, timeout). The refund may have happened: the payment stays refunding
      // and the recovery asks the provider later. The provider dedupes by this key, so the recovery's
      // question and any retry of this very request can never refund twice.
      let outcome: RefundResult | null;
      try {
        outcome = await withTimeout(
          provider.refund({
            paymentId: payment.id,
            providerRef: payment.provider_ref,
            amount: payment.amount,
            currency: payment.currency,
            idempotencyKey: providerRefundKey(scope, payment.id),
          }),
          deps.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
          () => new Error('the provider did not answer in time'),
        );
      } catch {
        outcome = null;
      }

      // 2nd transaction: the provider's answer. A webhook may have settled it already; then keep that.
      const settled = await inTransaction(pool, async (tx) => {
        const updated = await settleRefund(tx, payment.id, outcome);
        const current = updated ?? (await findPayment(tx, payment.id));
        if (!current) {
          const gone = { status: 404, body: JSON.stringify(paymentGone('refunded').toBody()) };
          await storeResponse(tx, scope, gone);
          return { kind: 'gone' as const, response: gone };
        }
        const body = { payment: paymentView(current) };
        await storeResponse(tx, scope, {
          status: 200,
          body: JSON.stringify({ ...body, consistency_token: null }),
        });
        return { kind: 'settled' as const, body };
      });
      if (settled.value.kind === 'gone') return { ...settled.value.response, replayed: false };
      return finish(scope, 200, settled.value.body, settled.position ?? started.position, [`payments:${id}`]);
    },

    async getPayment(principal: Principal, id: string, admin: boolean) {
      const payment = isId('pay', id) ? await findPayment(pool, id) : null;
      if (!payment || (payment.user_id !== principal.userId && !admin)) throw notFound('payment');
      return { payment: paymentView(payment) };
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
