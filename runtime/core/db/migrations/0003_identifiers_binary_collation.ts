/**
 * Identifiers compare exactly. 0001 gave every column the tables' default utf8mb4_unicode_ci, so
 * `Alice` = `alice` in every WHERE, JOIN and unique key: users read each other's purchases and
 * replayed each other's idempotent responses; idempotency keys, webhook event ids and provider refs
 * differing only in case collided. Every identifier column becomes utf8mb4_bin (byte order and
 * equality, still VARCHAR: values, events and their JSON schemas are unchanged). Names, descriptions
 * and other text keep the table default; so do currency codes (the catalog's CHECK keeps them upper
 * case).
 *
 * What each statement costs on a live table (MariaDB 10.11 / MySQL 8):
 * - Dropping the two foreign keys: INPLACE, LOCK=NONE, metadata only (instant). InnoDB refuses to
 *   change the collation of a column a foreign key uses, on either side, so the keys go first and are
 *   re-created inside the copies below. Until then the api's writes keep their integrity by
 *   construction (a payment is inserted from its purchase row, a purchase after reading its package).
 * - A column in a secondary index only (payments.user_id, payments.provider_ref): in place, LOCK=NONE
 *   (the index is rebuilt); a column in no index: instant. On their own they would be online, but
 *   every table here also has a primary-key column to change, so they ride along in its copy.
 * - A primary-key column (all five tables): only ALGORITHM=COPY can re-sort the clustered index under
 *   the new collation, so each table is copied with LOCK=SHARED: reads go on, writes to that table
 *   wait for the copy (see docs/api.md, Operations, for what it costs). Acceptable because the copy
 *   is one statement per table, rows are short, and the hot read path is served from Redis meanwhile;
 *   idempotency_keys and webhook_events are bounded by their retention, packages is the catalog. For
 *   tables too large for a write pause, run the same ALTERs through an online schema-change tool
 *   (pt-online-schema-change, gh-ost) and record this migration in schema_migrations by hand.
 * Converting unicode_ci to bin never creates a duplicate (bin tells apart everything ci does), so no
 * unique key can fail. Re-adding a foreign key validates the existing rows during the copy.
 */
const bin = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';
const ci = 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci';
const copy = 'ALGORITHM=COPY, LOCK=SHARED';

const columns = (coll: string) => ({
  packages: [`MODIFY id VARCHAR(64) ${coll} NOT NULL`],
  purchases: [
    `MODIFY id VARCHAR(40) ${coll} NOT NULL`,
    `MODIFY user_id VARCHAR(64) ${coll} NOT NULL`,
    `MODIFY package_id VARCHAR(64) ${coll} NOT NULL`,
  ],
  payments: [
    `MODIFY id VARCHAR(40) ${coll} NOT NULL`,
    `MODIFY purchase_id VARCHAR(40) ${coll} NOT NULL`,
    `MODIFY user_id VARCHAR(64) ${coll} NOT NULL`,
    `MODIFY provider VARCHAR(32) ${coll} NOT NULL`,
    `MODIFY provider_ref VARCHAR(128) ${coll} NULL`,
  ],
  idempotency_keys: [
    `MODIFY user_id VARCHAR(64) ${coll} NOT NULL`,
    `MODIFY idem_key VARCHAR(255) ${coll} NOT NULL`,
    `MODIFY request_method VARCHAR(8) ${coll} NOT NULL`,
    `MODIFY request_path VARCHAR(512) ${coll} NOT NULL`,
    `MODIFY request_hash CHAR(64) ${coll} NOT NULL`,
  ],
  webhook_events: [
    `MODIFY provider VARCHAR(32) ${coll} NOT NULL`,
    `MODIFY event_id VARCHAR(128) ${coll} NOT NULL`,
  ],
});

const FK_PURCHASE_PACKAGE =
  'ADD CONSTRAINT purchases_package FOREIGN KEY (package_id) REFERENCES packages (id)';
const FK_PAYMENT_PURCHASE =
  'ADD CONSTRAINT payments_purchase_fk FOREIGN KEY (purchase_id) REFERENCES purchases (id)';

/** Drop the foreign keys, convert parents before children, re-create each key in its child's copy. */
function convert(coll: string): string[] {
  const c = columns(coll);
  return [
    'ALTER TABLE payments DROP FOREIGN KEY payments_purchase_fk, ALGORITHM=INPLACE, LOCK=NONE',
    'ALTER TABLE purchases DROP FOREIGN KEY purchases_package, ALGORITHM=INPLACE, LOCK=NONE',
    `ALTER TABLE packages ${c.packages.join(', ')}, ${copy}`,
    `ALTER TABLE purchases ${c.purchases.join(', ')}, ${FK_PURCHASE_PACKAGE}, ${copy}`,
    `ALTER TABLE payments ${c.payments.join(', ')}, ${FK_PAYMENT_PURCHASE}, ${copy}`,
    `ALTER TABLE idempotency_keys ${c.idempotency_keys.join(', ')}, ${copy}`,
    `ALTER TABLE webhook_events ${c.webhook_events.join(', ')}, ${copy}`,
  ];
}

export const up = convert(bin);

/**
 * Stops with a duplicate-key error at the first table whose rows differ only in case where a unique
 * key would merge them (DDL is not transactional: the tables before it are converted back).
 */
export const down = convert(ci);
