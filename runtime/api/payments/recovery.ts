import type { Pool } from '../../core/db/pool.ts';
import type { Logger } from '../../core/logger.ts';
import { completeInFlightKeys } from '../idempotency.ts';
import {
  attachProviderRef,
  findPayment,
  findStaleProcessing,
  paymentView,
  type StoredPayment,
  updatePaymentStatus,
} from '../store/payments.ts';
import { inTransaction } from '../store/transaction.ts';
import type { PaymentProvider } from './provider.ts';

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
  | 'provider_error';

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

/**
 * Settles payments left `processing`: a confirm interrupted between its two transactions (crash,
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
      known = await opts.provider.retrieve(stale.id);
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
      if (now) {
        const body = JSON.stringify({ payment: paymentView(now), consistency_token: null });
        await completeInFlightKeys(tx, now.user_id, 'POST', `/v1/payments/${now.id}/confirm`, {
          status: 200,
          body,
        });
      }
      return result;
    });
    return value;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  return {
    /** Sweeps every `intervalMs` (a sweep still running skips its turn). */
    start(intervalMs: number): void {
      timer = setInterval(() => {
        if (running) return;
        running = this.sweepOnce()
          .catch((err: unknown) => opts.log?.warn({ err }, 'recovery sweep failed; next one retries'))
          .finally(() => {
            running = undefined;
          });
      }, intervalMs);
      timer.unref();
    },

    /** No new sweeps; waits for the one running (each payment's change is one transaction). */
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },

    /** One pass over the stale payments (oldest first, at most one batch); returns what each became. */
    async sweepOnce(): Promise<Recovered[]> {
      const stale = await findStaleProcessing(opts.pool, opts.staleAfterSeconds, batchSize);
      const results: Recovered[] = [];
      for (const payment of stale) {
        const result = await recover(payment);
        results.push(result);
        opts.onRecovered?.(result);
        if (result !== 'provider_error' && result !== 'still_processing') {
          opts.log?.info({ payment: payment.id, result }, 'recovery: payment settled');
        }
      }
      return results;
    },
  };
}

export type PaymentRecovery = ReturnType<typeof createPaymentRecovery>;
