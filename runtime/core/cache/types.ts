/**
 * The user's purchase package: the contract between the consumer (which materialises it in Redis)
 * and the api (which serves it from Redis, or from MySQL when Redis cannot answer).
 */
import type { PaymentStatus } from '../db/schema.ts';

export type { PaymentStatus };

/** Key order is the wire order of both sources (entries.ts renders it). */
export type PackageEntry = {
  purchase_id: string;
  user_id: string;
  /** Integer minor units of `currency`. */
  amount: number;
  currency: string;
  /** ISO 8601 UTC with microseconds, as in MySQL. */
  created_at: string;
  updated_at: string;
  payment: { id: string; status: PaymentStatus } | null;
  /** True when the payment succeeded (and no refund was asked for: `refunding` is not paid). */
  paid: boolean;
  package: { id: string; name: string };
};

/** Newest first; `next_cursor` is opaque and null on the last page. */
export type PackagePage = { items: PackageEntry[]; next_cursor: string | null };

export type CacheRead =
  | { kind: 'hit'; page: PackagePage }
  /** Redis does not hold this user's package (new or flushed Redis): answer from MySQL. */
  | { kind: 'miss' }
  /** Redis has not caught up with the caller's consistency token yet: answer from MySQL. */
  | { kind: 'behind' };

export type ReadOptions = {
  limit: number;
  cursor: string | null;
  token: import('../position.ts').ConsistencyToken | null;
};

/**
 * The same answer with a hit's page already as JSON (`{"items":[…],"next_cursor":…}`, UTF-8 bytes or
 * text) and the source position (GTID) the page holds at least: Redis's applied position, read with it.
 */
export type RenderedRead =
  | { kind: 'hit'; body: Buffer | string; position?: string | null }
  | { kind: 'miss' }
  | { kind: 'behind' };

/** A page held in process memory, with the position it was read at (rendered once, when it was kept). */
export type HeldPage = { readonly body: Buffer; readonly position: string | null };

/**
 * What every reader of the purchase package is (Redis, the near cache in front of it, the MySQL
 * fallback): callers read through these two methods and never ask which a reader has.
 */
export interface PurchasePackageReader {
  /**
   * The page as response bytes with the position it holds at least, or why this reader cannot answer
   * it: `miss` (it does not hold the user's package) or `behind` (not caught up with the token).
   * Throws RangeError for a limit out of 1..MAX_PAGE_SIZE or a cursor no page gave.
   */
  read(userId: string, opts: ReadOptions): Promise<RenderedRead>;
  /**
   * The page when this reader holds it in process memory, synchronously (no promise, no I/O), else
   * undefined and the caller reads. Never answers for a read with a consistency token; a reader that
   * holds nothing in memory always answers undefined.
   */
  peek(userId: string, opts: ReadOptions): HeldPage | undefined;
}
