import type { Pool } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';
import { periodic } from '../core/periodic.ts';
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

  const loop = periodic(
    () => maintenance.runOnce(),
    (err: unknown) => opts.log?.warn({ err }, 'maintenance pass failed'),
  );
  const maintenance = {
    /** One pass over both tables; returns how many rows each lost. */
    async runOnce(): Promise<Purged> {
      return {
        idempotencyKeys: await step('idempotencyKeys', () => purgeExpiredKeys(opts.pool)),
        webhookEvents: await step('webhookEvents', () =>
          purgeWebhookEvents(opts.pool, opts.webhookRetentionDays),
        ),
      };
    },

    /** A pass every `intervalMs` (a pass still running skips its turn); stop() waits for it. */
    start: loop.start,
    stop: loop.stop,
  };
  return maintenance;
}
