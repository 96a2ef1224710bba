import * as m0001 from './0001_initial.ts';
import * as m0002 from './0002_payments_status_index.ts';
import * as m0003 from './0003_identifiers_binary_collation.ts';
import * as m0004 from './0004_payments_refunding_webhook_retention.ts';

/** Ordered list of migrations; add new files here. Each is a list of SQL statements. */
export const migrations: { name: string; up: string[]; down: string[] }[] = [
  { name: '0001_initial', ...m0001 },
  { name: '0002_payments_status_index', ...m0002 },
  { name: '0003_identifiers_binary_collation', ...m0003 },
  { name: '0004_payments_refunding_webhook_retention', ...m0004 },
];
