/** Payments by status and age: the recovery sweep looks for payments left `processing`. Online DDL. */
export const up = [
  'ALTER TABLE payments ADD KEY payments_status_updated (status, updated_at), ALGORITHM=INPLACE, LOCK=NONE',
];

export const down = ['ALTER TABLE payments DROP KEY payments_status_updated'];
