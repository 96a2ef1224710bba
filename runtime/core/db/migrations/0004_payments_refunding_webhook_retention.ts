/**
 * Refunds in two phases and webhook event retention. Both online on a live table:
 * - `refunding` is appended at the END of the status ENUM: existing values keep their numbers, so
 *   MariaDB and MySQL change only metadata (INPLACE, LOCK=NONE; a value inserted elsewhere would copy
 *   the table). The column's collation is spelled out so the statement changes nothing else.
 * - `webhook_events_received` lets the retention purge delete the oldest events by range instead of
 *   scanning the table (INPLACE, LOCK=NONE: writes go on while the index is built).
 */
const statusWith = (values: string[]) =>
  `ALTER TABLE payments MODIFY status ENUM(${values.map((v) => `'${v}'`).join(',')})
     CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'pending', ALGORITHM=INPLACE, LOCK=NONE`;

const BEFORE = ['pending', 'processing', 'succeeded', 'failed', 'refunded'];

export const up = [
  statusWith([...BEFORE, 'refunding']),
  'ALTER TABLE webhook_events ADD KEY webhook_events_received (received_at), ALGORITHM=INPLACE, LOCK=NONE',
];

/** Fails while a payment is still `refunding` (settle it first): MariaDB would turn it into ''. */
export const down = [
  'ALTER TABLE webhook_events DROP KEY webhook_events_received',
  statusWith(BEFORE).replace(', ALGORITHM=INPLACE, LOCK=NONE', ''),
];
