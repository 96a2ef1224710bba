/**
 * GTID sets of both flavours, reduced to what position validation needs: "is A contained in B".
 *
 * MariaDB: a position is a list of `domain-server-seq`, one per domain, meaning "everything of that
 * domain up to seq" (server ids do not matter for ordering under gtid_strict_mode).
 * MySQL: `uuid:1-5:7,uuid2:1-9` interval sets.
 */
export type GtidFlavor = 'mariadb' | 'mysql';

/** MariaDB GTID position: domain → highest seq. */
export type MariaGtidPos = Map<number, bigint>;
/** MySQL GTID set: source uuid (lower case) → sorted, merged [start, end] intervals. */
export type MysqlGtidSet = Map<string, [bigint, bigint][]>;

export class GtidSyntaxError extends Error {
  constructor(flavor: GtidFlavor, text: string) {
    super(
      `not a ${flavor === 'mariadb' ? 'MariaDB GTID position (domain-server-seq,...)' : 'MySQL GTID set (uuid:n[-m],...)'}: ${JSON.stringify(text)}`,
    );
    this.name = 'GtidSyntaxError';
  }
}

const parts = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export function parseMariaPos(text: string): MariaGtidPos {
  const pos: MariaGtidPos = new Map();
  for (const p of parts(text)) {
    const m = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/.exec(p);
    if (!m?.[1] || !m[3]) throw new GtidSyntaxError('mariadb', text);
    const domain = Number(m[1]);
    if (pos.has(domain)) throw new GtidSyntaxError('mariadb', text);
    pos.set(domain, BigInt(m[3]));
  }
  return pos;
}

export function parseMysqlSet(text: string): MysqlGtidSet {
  const set: MysqlGtidSet = new Map();
  for (const p of parts(text.replace(/\s+/g, ''))) {
    const [uuid, ...ranges] = p.split(':');
    if (
      !uuid ||
      !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(uuid) ||
      ranges.length === 0
    ) {
      throw new GtidSyntaxError('mysql', text);
    }
    const intervals = set.get(uuid.toLowerCase()) ?? [];
    for (const r of ranges) {
      const m = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(r);
      if (!m?.[1]) throw new GtidSyntaxError('mysql', text);
      const start = BigInt(m[1]);
      const end = m[2] ? BigInt(m[2]) : start;
      if (start < 1n || end < start) throw new GtidSyntaxError('mysql', text);
      intervals.push([start, end]);
    }
    set.set(uuid.toLowerCase(), merge(intervals));
  }
  return set;
}

function merge(intervals: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (!last || s > last[1] + 1n) out.push([s, e]);
    else if (e > last[1]) last[1] = e; // bigint: Math.max does not apply
  }
  return out;
}

/** Domains of `a` that are behind `b` (a MariaDB position "before" b in that domain, or missing it). */
export function mariaDomainsBehind(a: MariaGtidPos, b: MariaGtidPos): number[] {
  const behind: number[] = [];
  for (const [domain, seq] of b) {
    const mine = a.get(domain);
    if (mine === undefined || mine < seq) behind.push(domain);
  }
  return behind;
}

/** True when every GTID of `a` is in `b`. */
export function mysqlSubset(a: MysqlGtidSet, b: MysqlGtidSet): boolean {
  for (const [uuid, intervals] of a) {
    const theirs = b.get(uuid) ?? [];
    for (const [s, e] of intervals) {
      if (!theirs.some(([ts, te]) => ts <= s && e <= te)) return false;
    }
  }
  return true;
}
