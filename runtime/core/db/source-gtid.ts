import type { Pool, PoolConnection } from 'mysql2/promise';

type Queryable = Pool | PoolConnection;

/**
 * The GTID of the last transaction the server committed to its binlog, in the form position.ts parses
 * (MariaDB `domain-server-seq`, MySQL `uuid:seq`), or null before the first transaction.
 * One GTID domain (one writing primary) is assumed, as everywhere in the pipeline.
 */
export async function currentSourceGtid(db: Queryable): Promise<string | null> {
  let raw: string;
  try {
    const [rows] = await db.query('SELECT @@global.gtid_binlog_pos AS g');
    raw = String((rows as { g: unknown }[])[0]?.g ?? '');
    return parseMariaDb(raw);
  } catch (err) {
    if (!isUnknownVariable(err)) throw err;
  }
  const [rows] = await db.query('SELECT @@global.gtid_executed AS g');
  raw = String((rows as { g: unknown }[])[0]?.g ?? '');
  return parseMySql(raw);
}

function parseMariaDb(raw: string): string | null {
  const parts = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return null;
  if (parts.length > 1) throw new Error(`more than one GTID domain in the binlog (${raw}); one is supported`);
  return parts[0] ?? null;
}

/** `uuid:1-42:50-60` → `uuid:60` (the highest transaction of the set). */
function parseMySql(raw: string): string | null {
  const sets = raw.replace(/\s+/g, '').split(',').filter(Boolean);
  if (sets.length === 0) return null;
  if (sets.length > 1)
    throw new Error(`more than one GTID source in gtid_executed (${raw}); one is supported`);
  const [uuid, ...ranges] = (sets[0] ?? '').split(':');
  const last = ranges.at(-1)?.split('-').at(-1);
  if (!uuid || !last) throw new Error(`unrecognised gtid_executed: ${raw}`);
  return `${uuid}:${last}`;
}

function isUnknownVariable(err: unknown): boolean {
  return (err as { code?: string }).code === 'ER_UNKNOWN_SYSTEM_VARIABLE';
}
