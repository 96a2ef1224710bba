import type { Pool } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';
import { purgeExpiredKeys } from './idempotency.ts';
import { purgeWebhookEvents } from './payments/webhooks.ts';

export type Purged = { idempotencyKeys: number; webhookEvents: number };

export type MaintenanceOptions = {
  pool: Pool;
  /** Processed webhook events older than this are deleted (WEBHOOK_EVENT_RETENTION_DAYS). */
  webhookRetentionDays: number;
  log?: Logger;
  onPurged?: (table: keyof Purged, rows: number) => void;
};

/**
 * The api's periodic clean-up of tables that only grow: expired Idempotency-Keys and webhook events
 * past their retention. Each replica runs it; the deletes are idempotent, so replicas overlapping
 * only share the work.
 */
export function createMaintenance(opts: MaintenanceOptions) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  async function step(table: keyof Purged, run: () => Promise<number>): Promise<number> {
    try {
      const rows = await run();
      opts.onPurged?.(table, rows);
      if (rows > 0) opts.log?.info({ table, rows }, 'maintenance: purged');
      return rows;
    } catch (err) {
      // One table's failure does not skip the other; the next pass retries.
      opts.log?.warn({ err, table }, 'maintenance: purge failed');
      return 0;
    }
  }

  return {
    /** One pass over both tables; returns how many rows each lost. */
    async runOnce(): Promise<Purged> {
      return {
        idempotencyKeys: await step('idempotencyKeys', () => purgeExpiredKeys(opts.pool)),
        webhookEvents: await step('webhookEvents', () =>
          purgeWebhookEvents(opts.pool, opts.webhookRetentionDays),
        ),
      };
    },

    /** A pass every `intervalMs` (a pass still running skips its turn). */
    start(intervalMs: number): void {
      timer = setInterval(() => {
        if (running) return;
        running = this.runOnce().finally(() => {
          running = undefined;
        });
      }, intervalMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
