import { decodeCursor } from '../../core/cache/cursor.ts';
import type { HeldPage, PurchasePackageReader, ReadOptions } from '../../core/cache/types.ts';
import type { Pool } from '../../core/db/pool.ts';
import { type ConsistencyToken, tokenSequence } from '../../core/position.ts';
import type { TokenSigner } from '../consistency-token.ts';
import { invalidRequest } from '../errors.ts';
import type { SourcePosition } from '../store/source-position.ts';
import { MysqlPackageReader } from './mysql-reader.ts';

export type PackageSource = 'redis' | 'mysql_miss' | 'mysql_behind';

/** A validated page request: size, cursor and consistency token as the caller gave them. */
export type PackageQuery = {
  limit: number;
  cursor: string | undefined;
  consistency_token: string | undefined;
};

export type PackageReadDeps = {
  pool: Pool;
  /** The cache's reader (the near cache in front of Redis, or Redis itself). */
  reader: PurchasePackageReader;
  /** Answers what the cache cannot (default: MySQL through `pool`). */
  fallback?: PurchasePackageReader;
  /** Checks the signature and user binding of consistency tokens. */
  tokens: TokenSigner;
  /** Refuses tokens beyond what the source has committed. */
  source: SourcePosition;
  /** Counts where each answer came from. */
  onSource?: (source: PackageSource) => void;
};

/**
 * The hot path: one Redis round trip; MySQL only when Redis does not hold the package yet or has not
 * reached the caller's consistency token. Answers the response body as JSON text: a Redis hit arrives
 * rendered and goes out without being parsed and serialised again.
 */
export function createPackageReader(deps: PackageReadDeps) {
  const fallback = deps.fallback ?? new MysqlPackageReader(deps.pool);
  const read = async (
    userId: string,
    q: PackageQuery,
    /** Settles before any MySQL fallback (the rate limit): refused requests never reach the database. */
    admitted?: Promise<void>,
  ): Promise<{ body: Buffer | string; source: PackageSource; position: string | null }> => {
    if (q.cursor !== undefined && !decodeCursor(q.cursor))
      throw invalidRequest('cursor_invalid', 'the cursor is not valid', 'cursor');
    const token = q.consistency_token === undefined ? null : await checkedToken(userId, q.consistency_token);
    const opts: ReadOptions = { limit: q.limit, cursor: q.cursor ?? null, token };
    let source: PackageSource = 'redis';
    let read = await deps.reader.read(userId, opts);
    if (read.kind !== 'hit') {
      source = read.kind === 'miss' ? 'mysql_miss' : 'mysql_behind';
      await admitted;
      read = await fallback.read(userId, opts);
      if (read.kind !== 'hit') throw new Error(`the fallback reader answered ${read.kind}`);
    }
    const body = read.body;
    const position = read.position ?? null;
    deps.onSource?.(source);
    return { body, source, position };
  };
  /** A token this api signed for this user, at a position the source has committed; else 400. */
  async function checkedToken(userId: string, raw: string): Promise<ConsistencyToken> {
    const token = deps.tokens.verify(userId, raw);
    if (!token) throw invalidToken('the consistency token is not valid');
    if (!(await deps.source.covers(tokenSequence(token)))) {
      throw invalidToken('the consistency token names a position the database has not committed');
    }
    return token;
  }
  /**
   * The page if the reader holds it in memory (the near cache), synchronously; undefined means "call
   * the reader". Reads with a consistency token are never answered here.
   */
  const peek = (userId: string, q: PackageQuery): HeldPage | undefined => {
    if (q.consistency_token !== undefined) return undefined;
    const held = deps.reader.peek(userId, { limit: q.limit, cursor: q.cursor ?? null, token: null });
    if (held) deps.onSource?.('redis');
    return held;
  };
  return Object.assign(read, { peek });
}

const invalidToken = (message: string) =>
  invalidRequest('consistency_token_invalid', message, 'consistency_token');

export type PackageReadFn = ReturnType<typeof createPackageReader>;
