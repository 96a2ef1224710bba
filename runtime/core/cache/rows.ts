/**
 * Canonical form of the source rows the cache holds. The consumer (from change events), the rebuild
 * (from MySQL) and the consistency checker all pass rows through here, so "Redis equals MySQL" is a
 * plain comparison of canonical JSON whatever the binlog decoder or the driver produced.
 */
export const CACHED_TABLES = ['packages', 'purchases', 'payments'] as const;
export type CachedTable = (typeof CACHED_TABLES)[number];

export function isCachedTable(table: string): table is CachedTable {
  return (CACHED_TABLES as readonly string[]).includes(table);
}

/** A row that does not have the shape of its table (missing column, wrong type): never cached. */
export class RowShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowShapeError';
  }
}

type Kind = 'string' | 'nullableString' | 'integer' | 'flag' | 'datetime';

const COLUMNS: Record<CachedTable, Record<string, Kind>> = {
  packages: {
    id: 'string',
    name: 'string',
    description: 'string',
    price_amount: 'integer',
    currency: 'string',
    active: 'flag',
    created_at: 'datetime',
    updated_at: 'datetime',
  },
  purchases: {
    id: 'string',
    user_id: 'string',
    package_id: 'string',
    amount: 'integer',
    currency: 'string',
    created_at: 'datetime',
    updated_at: 'datetime',
  },
  payments: {
    id: 'string',
    purchase_id: 'string',
    user_id: 'string',
    amount: 'integer',
    currency: 'string',
    status: 'string',
    provider: 'string',
    provider_ref: 'nullableString',
    failure_code: 'nullableString',
    created_at: 'datetime',
    updated_at: 'datetime',
  },
};

export type CanonicalRow = Record<string, string | number | null>;

/** Column names of a cached table, in schema order (the rebuild and the checker select these). */
export function columnsOf(table: CachedTable): string[] {
  return Object.keys(COLUMNS[table]);
}

/** Validates and normalises a row; extra columns (added by a later migration) are dropped. */
export function canonicalRow(table: CachedTable, raw: Record<string, unknown>): CanonicalRow {
  const out: CanonicalRow = {};
  for (const [column, kind] of Object.entries(COLUMNS[table])) {
    out[column] = convert(table, column, kind, raw[column]);
  }
  return out;
}

function convert(table: string, column: string, kind: Kind, value: unknown): string | number | null {
  const fail = (why: string): never => {
    throw new RowShapeError(`${table}.${column}: ${why} (got ${JSON.stringify(value) ?? typeof value})`);
  };
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') fail('expected a string');
      return value as string;
    case 'nullableString':
      if (value === null || value === undefined) return null;
      if (typeof value !== 'string') fail('expected a string or null');
      return value as string;
    case 'integer': {
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) fail('expected a safe integer');
      return n as number;
    }
    case 'flag':
      if (value === true || value === 1 || value === '1') return 1;
      if (value === false || value === 0 || value === '0') return 0;
      return fail('expected 0/1 or a boolean');
    case 'datetime': {
      const iso = toIsoMicros(value);
      if (iso === null) fail('expected a DATETIME(6)');
      return iso;
    }
  }
}

const DATETIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)?$/;

/**
 * `2026-11-25T21:00:00.123456Z` from a DATETIME(6) however it was delivered: MySQL text
 * (`2026-11-25 21:00:00.123456`), ISO 8601 in UTC, epoch microseconds (Debezium MicroTimestamp) or a
 * Date (millisecond precision only). Returns null for anything else.
 */
export function toIsoMicros(value: unknown): string | null {
  if (typeof value === 'string') {
    const m = DATETIME.exec(value);
    if (!m) return null;
    const iso = `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(6, '0')}Z`;
    return Number.isNaN(Date.parse(`${m[1]}T${m[2]}Z`)) ? null : iso;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return isoOfMicros(value);
  if (value instanceof Date && !Number.isNaN(value.getTime())) return isoOfMicros(value.getTime() * 1000);
  return null;
}

function isoOfMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const seconds = new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19);
  const frac = (((us % 1_000_000) + 1_000_000) % 1_000_000).toString().padStart(6, '0');
  return `${seconds}.${frac}Z`;
}

/** Microseconds since the epoch of a canonical timestamp (exact: below 2^53 until year 2255). */
export function microsOfIso(iso: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/.exec(iso);
  if (!m?.[1] || !m[2]) throw new RangeError(`not a canonical timestamp: ${iso}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
}
