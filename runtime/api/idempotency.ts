import { createHash } from 'node:crypto';
import type { Pool } from '../core/db/pool.ts';
import { ApiError } from './errors.ts';
import { sqlErrorCode, type Tx } from './store/transaction.ts';

/**
 * Idempotency keys, stored in the same transaction as the effect they guard.
 *
 * A claim locks the key row with NOWAIT: a second request holding the same key while the first is
 * still running gets 409 at once instead of queueing; a finished key replays its stored response
 * byte for byte; the same key with other parameters gets 422. `response_status = 0` marks a key
 * whose effect is still in flight (confirm spans two transactions around the provider call).
 */
export type IdempotencyScope = {
  userId: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
};

export type StoredResponse = { status: number; body: string };
export type Claim = { kind: 'new' } | { kind: 'replay'; response: StoredResponse };

const IN_FLIGHT = 0;
// MariaDB reports NOWAIT as a lock wait timeout; MySQL 8 has its own code.
const LOCK_BUSY = new Set(['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_NOWAIT', 'ER_LOCK_DEADLOCK']);

export function requestHash(method: string, path: string, params: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${JSON.stringify(params)}`)
    .digest('hex');
}

const inUse = () =>
  new ApiError(
    409,
    'conflict',
    'idempotency_key_in_use',
    'a request with this Idempotency-Key is still in progress',
  );

type KeyRow = {
  request_method: string;
  request_path: string;
  request_hash: string;
  response_status: number;
  response_body: Buffer;
  /** A comparison: INT on MariaDB, BIGINT on MySQL, which the pool returns as the string "0"/"1". */
  expired: number | string;
};

export async function claimKey(tx: Tx, scope: IdempotencyScope, ttlHours: number): Promise<Claim> {
  let rows: KeyRow[];
  try {
    const [result] = await tx.query(
      `SELECT request_method, request_path, request_hash, response_status, response_body,
              expires_at < UTC_TIMESTAMP(6) AS expired
       FROM idempotency_keys WHERE user_id = ? AND idem_key = ? FOR UPDATE NOWAIT`,
      [scope.userId, scope.key],
    );
    rows = result as KeyRow[];
  } catch (err) {
    if (LOCK_BUSY.has(sqlErrorCode(err) ?? '')) throw inUse();
    throw err;
  }
  const row = rows[0];
  if (row && Number(row.expired) === 0) {
    if (
      row.request_method !== scope.method ||
      row.request_path !== scope.path ||
      row.request_hash !== scope.requestHash
    ) {
      throw new ApiError(
        422,
        'idempotency_error',
        'idempotency_key_reused',
        'this Idempotency-Key was already used with different request parameters',
      );
    }
    if (row.response_status === IN_FLIGHT) throw inUse();
    return {
      kind: 'replay',
      response: { status: row.response_status, body: row.response_body.toString('utf8') },
    };
  }
  try {
    if (row) {
      // Expired key: reuse the row (we hold its lock).
      await tx.query(
        `UPDATE idempotency_keys SET request_method = ?, request_path = ?, request_hash = ?, response_status = ?,
           response_body = '', created_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? HOUR
         WHERE user_id = ? AND idem_key = ?`,
        [scope.method, scope.path, scope.requestHash, IN_FLIGHT, ttlHours, scope.userId, scope.key],
      );
    } else {
      // A plain INSERT: a concurrent first use of the key waits for ours and then fails as a duplicate.
      await tx.query(
        `INSERT INTO idempotency_keys
           (user_id, idem_key, request_method, request_path, request_hash, response_status, response_body,
            created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, '', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? HOUR)`,
        [scope.userId, scope.key, scope.method, scope.path, scope.requestHash, IN_FLIGHT, ttlHours],
      );
    }
  } catch (err) {
    const code = sqlErrorCode(err) ?? '';
    if (code === 'ER_DUP_ENTRY' || LOCK_BUSY.has(code)) throw inUse();
    throw err;
  }
  return { kind: 'new' };
}

/**
 * Records the response of a claimed key. Called inside the effect's transaction, and once more
 * after commit to add the consistency token (only known after COMMIT) to the stored body.
 */
export async function storeResponse(
  db: Tx | Pool,
  scope: IdempotencyScope,
  response: StoredResponse,
): Promise<void> {
  await db.query(
    'UPDATE idempotency_keys SET response_status = ?, response_body = ? WHERE user_id = ? AND idem_key = ?',
    [response.status, Buffer.from(response.body, 'utf8'), scope.userId, scope.key],
  );
}

/** Deletes expired keys in small batches (keeps undo and locks short); returns how many went. */
export async function purgeExpiredKeys(pool: Pool, batch = 1000): Promise<number> {
  const [result] = await pool.query(
    'DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?',
    [batch],
  );
  return (result as { affectedRows: number }).affectedRows;
}

/**
 * Gives every key of `userId` still in flight for `method path` its response (the recovery of an
 * interrupted confirm): retries then replay it instead of getting 409 until the key expires.
 */
export async function completeInFlightKeys(
  tx: Tx,
  userId: string,
  method: string,
  path: string,
  response: StoredResponse,
): Promise<number> {
  const [result] = await tx.query(
    `UPDATE idempotency_keys SET response_status = ?, response_body = ?
     WHERE user_id = ? AND request_method = ? AND request_path = ? AND response_status = ?`,
    [response.status, Buffer.from(response.body, 'utf8'), userId, method, path, IN_FLIGHT],
  );
  return (result as { affectedRows: number }).affectedRows;
}
