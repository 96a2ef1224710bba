/**
 * Pagination cursor of the purchase package, shared by the Redis reader and the api's MySQL fallback
 * so a client can move between them mid-listing. Order: newest first by created_at, then id
 * (both descending); the cursor names the last item returned, the next page starts strictly after it.
 */
export type PageCursor = { createdAt: string; id: string };

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.createdAt, i: cursor.id }), 'utf8').toString('base64url');
}

/** The longest cursor this code issues is far below this; longer input is refused unparsed. */
export const MAX_CURSOR_LENGTH = 512;
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]+$';
const CURSOR = new RegExp(CURSOR_PATTERN);
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

/** Returns null for anything that is not a cursor this code issued (callers answer 400). */
export function decodeCursor(raw: string): PageCursor | null {
  if (raw.length === 0 || raw.length > MAX_CURSOR_LENGTH || !CURSOR.test(raw)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { t, i } = parsed as { t?: unknown; i?: unknown };
  if (typeof t !== 'string' || typeof i !== 'string' || !ID.test(i) || !isPossibleTimestamp(t)) return null;
  return { createdAt: t, id: i };
}

/**
 * A canonical UTC timestamp (microseconds) naming a real instant that a DATETIME(6) can hold: the
 * well-formed but impossible ones (month 13, day 0, Feb 30, hour 24, year 0000) are refused here, or
 * they would reach the Redis score (NaN) and MySQL (an invalid DATETIME) as 500s.
 */
function isPossibleTimestamp(t: string): boolean {
  const m = TIMESTAMP.exec(t);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1000) return false; // DATETIME's range is 1000-01-01 .. 9999-12-31
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls over (month 13 → next January): only an instant that reads back the same is real.
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 19) === t.slice(0, 19);
}
