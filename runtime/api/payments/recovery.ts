import type { Pool } from '../../core/db/pool.ts';
import type { Logger } from '../../core/logger.ts';
import { periodic } from '../../core/periodic.ts';
import { completeInFlightKeys } from '../idempotency.ts';
import {
  attachProviderRef,
  findPayment,
  findStale,
  paymentView,
  type StoredPayment,
  touchPayment,
  updatePaymentStatus,
} from '../store/payments.ts';
import { inTransaction, type Tx } from '../store/transaction.ts';
import type { PaymentProvider, RefundResult } from './provider.ts';
import { settleRefund } from './refund.ts';

/** What one payment's recovery did. */
export type Recovered =
  | 'succeeded'
  | 'failed'
  /** The provider never received a charge: nothing was taken, the payment fails. */
  | 'never_charged'
  /** The provider still processes it: its reference is recorded, the webhook (or a later sweep) settles it. */
  | 'still_processing'
  /** Someone else (a webhook, a late confirm, another replica) settled or removed it first. */
  | 'settled_elsewhere'
  | 'provider_error'
  /** Refunds left `refunding`: the provider made it. */
  | 'refunded'
  /** The provider refused it: back to succeeded with its failure code (nothing was refunded). */
  | 'refund_failed'
  /** The provider never received it: back to succeeded, `refund_interrupted` (nothing was refunded). */
  | 'refund_never_received'
  /** The provider still works on it: its age is reset, the webhook (or a later sweep) settles it. */
  | 'refund_pending';

export type RecoveryOptions = {
  pool: Pool;
  provider: PaymentProvider;
  /** Only payments `processing` for at least this long (well above the provider timeout). */
  staleAfterSeconds: number;
  batchSize?: number;
  log?: Logger;
  onRecovered?: (result: Recovered) => void;
};

export const INTERRUPTED_FAILURE_CODE = 'confirm_interrupted';
export const REFUND_INTERRUPTED_FAILURE_CODE = 'refund_interrupted';

/**
 * Settles payments left `processing` (and, below, refunds left `refunding`): a confirm interrupted between its two transactions (crash,
 * deploy), a charge whose answer never came (timeout, network), an async charge whose webhook was lost.
 * The provider is asked what it knows (`retrieve`); the payment then moves as the confirm would have
 * moved it, in a transaction that locks and re-checks it (a webhook or another replica may have been
 * first), and a confirm Idempotency-Key still in flight gets the payment as its response, so the
 * client's retries replay it instead of getting 409 until the key expires.
 */
export function createPaymentRecovery(opts: RecoveryOptions) {
  const batchSize = opts.batchSize ?? 100;

  async function recover(stale: StoredPayment): Promise<Recovered> {
    let known: Awaited<ReturnType<PaymentProvider['retrieve']>>;
    try {
      known = await opts.provider.retrieve(stale.id, stale.provider_ref);
    } catch (err) {
      opts.log?.warn({ err, payment: stale.id }, 'recovery: provider did not answer; next sweep retries');
      return 'provider_error';
    }
    const { value } = await inTransaction(opts.pool, async (tx) => {
      const current = await findPayment(tx, stale.id, true);
      let result: Recovered;
      let now: StoredPayment | null = current;
      if (current?.status !== 'processing') {
        result = 'settled_elsewhere';
      } else if (known === null) {
        now = await updatePaymentStatus(tx, current.id, 'processing', 'failed', {
          failure_code: INTERRUPTED_FAILURE_CODE,
        });
        result = 'never_charged';
      } else if (known.outcome === 'processing') {
        // Recorded (and its age reset, so the oldest-first batch moves on to other payments).
        now = await attachProviderRef(tx, current.id, current.provider_ref ?? known.providerRef);
        result = 'still_processing';
      } else {
        now = await updatePaymentStatus(tx, current.id, 'processing', known.outcome, {
          provider_ref: known.providerRef,
          failure_code: known.outcome === 'failed' ? known.failureCode : null,
        });
        result = known.outcome;
      }
      if (now) await answerInFlight(tx, now, 'confirm');
      return result;
    });
    return value;
  }

  /** The same for a refund left `refunding` (interrupted, or its answer never came). */
  async function recoverRefund(stale: StoredPayment): Promise<Recovered> {
    let known: RefundResult | null;
    try {
      known = await opts.provider.retrieveRefund(stale.id, stale.provider_ref);
    } catch (err) {
      opts.log?.warn({ err, payment: stale.id }, 'recovery: provider did not answer; next sweep retries');
      return 'provider_error';
    }
    const { value } = await inTransaction(opts.pool, async (tx) => {
      const current = await findPayment(tx, stale.id, true);
      if (current?.status !== 'refunding') return 'settled_elsewhere' as const;
      let result: Recovered;
      let now: StoredPayment | null;
      if (known === null) {
        now = await settleRefund(tx, current.id, {
          outcome: 'failed',
          failureCode: REFUND_INTERRUPTED_FAILURE_CODE,
        });
        result = 'refund_never_received';
      } else if (known.outcome === 'pending') {
        now = await touchPayment(tx, current.id, 'refunding');
        result = 'refund_pending';
      } else {
        now = await settleRefund(tx, current.id, known);
        result = known.outcome === 'refunded' ? 'refunded' : 'refund_failed';
      }
      if (now) await answerInFlight(tx, now, 'refund');
      return result;
    });
    return value;
  }

  /** A key still in flight for the payment's confirm/refund gets the payment as its response. */
  async function answerInFlight(tx: Tx, payment: StoredPayment, action: 'confirm' | 'refund') {
    const body = JSON.stringify({ payment: paymentView(payment), consistency_token: null });
    await completeInFlightKeys(tx, payment.user_id, 'POST', `/v1/payments/${payment.id}/${action}`, {
      status: 200,
      body,
    });
  }

  // Sweeps every `intervalMs` (a sweep still running skips its turn); stop() waits for the one running
  // (each payment's change is one transaction).
  const loop = periodic(
    () => recovery.sweepOnce(),
    (err: unknown) => opts.log?.warn({ err }, 'recovery sweep failed; next one retries'),
  );
  const recovery = {
    start: loop.start,
    stop: loop.stop,

    /**
     * One pass over the stale payments, `processing` then `refunding` (oldest first, at most one batch
     * of each); returns what each became.
     */
    async sweepOnce(): Promise<Recovered[]> {
      const stale = [
        ...(await findStale(opts.pool, 'processing', opts.staleAfterSeconds, batchSize)),
        ...(await findStale(opts.pool, 'refunding', opts.staleAfterSeconds, batchSize)),
      ];
      const results: Recovered[] = [];
      for (const payment of stale) {
        const result = payment.status === 'refunding' ? await recoverRefund(payment) : await recover(payment);
        results.push(result);
        opts.onRecovered?.(result);
        if (result !== 'provider_error' && result !== 'still_processing' && result !== 'refund_pending') {
          opts.log?.info({ payment: payment.id, result }, 'recovery: payment settled');
        }
      }
      return results;
    },
  };
  return recovery;
}

export type PaymentRecovery = ReturnType<typeof createPaymentRecovery>;
