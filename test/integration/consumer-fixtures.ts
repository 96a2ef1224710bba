import type { ChangeEnvelope, Op, Row } from '../../runtime/core/events/envelope.ts';
import type { OutgoingRecord } from '../../runtime/core/kafka/index.ts';

/** Change events shaped like the producer's, for feeding the consumer directly. */
export function changeRecord(opts: {
  topic: string;
  table: string;
  op: Op;
  seq: bigint;
  row?: number;
  before?: Row | null;
  after?: Row | null;
  tsMs?: number;
}): OutgoingRecord {
  const image = opts.after ?? opts.before;
  const envelope: ChangeEnvelope = {
    before: opts.before ?? null,
    after: opts.after ?? null,
    op: opts.op,
    ts_ms: opts.tsMs ?? Date.now(),
    source: {
      version: '1.0.0',
      connector: 'mysql',
      name: 'test',
      ts_ms: opts.tsMs ?? Date.now(),
      db: 'payments',
      table: opts.table,
      server_id: 1,
      gtid: `0-1-${opts.seq}`,
      file: 'bin.000001',
      pos: 4,
      row: opts.row ?? 0,
      snapshot: 'false',
    },
  };
  return { topic: opts.topic, key: JSON.stringify({ id: image?.id }), value: JSON.stringify(envelope) };
}

export const at = (second: number) => `2026-11-25T12:00:${String(second).padStart(2, '0')}.000000Z`;

export const purchaseRow = (id: string, user: string, second: number, packageId = 'pkg_plus'): Row => ({
  id,
  user_id: user,
  package_id: packageId,
  amount: 1999,
  currency: 'EUR',
  created_at: at(second),
  updated_at: at(second),
});

export const paymentRow = (id: string, purchaseId: string, user: string, status: string): Row => ({
  id,
  purchase_id: purchaseId,
  user_id: user,
  amount: 1999,
  currency: 'EUR',
  status,
  provider: 'test',
  provider_ref: null,
  failure_code: null,
  created_at: at(1),
  updated_at: at(1),
});
