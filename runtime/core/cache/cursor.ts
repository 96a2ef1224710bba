import { microsOfIso } from './rows.ts';

/**
 * Pagination cursor of the purchase package, shared by the Redis reader and the api's MySQL fallback
 * so a client can move between them mid-listing. Order: newest first by created_at, then id
 * (both descending); the cursor names the last item returned, the next page starts strictly after it.
 */
export type PageCursor = { createdAt: string; id: string };

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.createdAt, i: cursor.id }), 'utf8').toString('base64url');
}

/** Returns null for anything that is not a cursor this code issued (callers answer 400). */
export function decodeCursor(raw: string): PageCursor | null {
  if (raw.length === 0 || raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return null;
    const { t, i } = parsed as { t?: unknown; i?: unknown };
    if (typeof t !== 'string' || typeof i !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(i)) return null;
    microsOfIso(t);
    return { createdAt: t, id: i };
  } catch {
    return null;
  }
}
