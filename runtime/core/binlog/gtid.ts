/**
 * GTID sets of both flavours, reduced to what position validation needs: "is A contained in B".
 *
 * MariaDB: a position is a list of `domain-server-seq`, one per domain, meaning "everything of that
 * domain up to seq" (server ids do not matter for ordering under gtid_strict_mode).
 * MySQL: `uuid:1-5:7,uuid2:1-9` interval sets, tagged GTIDs (`uuid:tag:3`) a source of their own.
 */
export type GtidFlavor = 'mariadb' | 'mysql';

/** MariaDB GTID position: domain → highest seq. */
export type MariaGtidPos = Map<number, bigint>;
/** MySQL GTID set: source (`uuid` or `uuid:tag`, lower case) → sorted, merged [start, end] intervals. */
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
    const [uuid, ...items] = p.split(':');
    if (
      !uuid ||
      !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(uuid) ||
      items.length === 0
    ) {
      throw new GtidSyntaxError('mysql', text);
    }
    // MySQL 8.3+ tags: `uuid:1-5:tag_a:1-2` — a tag names the intervals after it; (uuid, tag) is a
    // source of its own, keyed `uuid:tag`.
    let source = uuid.toLowerCase();
    let empty = false;
    for (const item of items) {
      if (/^[a-zA-Z_][a-zA-Z0-9_]{0,31}$/.test(item)) {
        if (empty) throw new GtidSyntaxError('mysql', text);
        source = `${uuid.toLowerCase()}:${item.toLowerCase()}`;
        empty = true;
        continue;
      }
      const m = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(item);
      if (!m?.[1]) throw new GtidSyntaxError('mysql', text);
      const start = BigInt(m[1]);
      const end = m[2] ? BigInt(m[2]) : start;
      if (start < 1n || end < start) throw new GtidSyntaxError('mysql', text);
      set.set(source, merge([...(set.get(source) ?? []), [start, end]]));
      empty = false;
    }
    if (empty) throw new GtidSyntaxError('mysql', text);
  }
  return set;
}

/** How many transactions a MySQL GTID set holds. */
export function mysqlSetSize(set: MysqlGtidSet): bigint {
  let n = 0n;
  for (const intervals of set.values()) for (const [s, e] of intervals) n += e - s + 1n;
  return n;
}

/** Whether one GTID (`uuid:n` or `uuid:tag:n`) is in the set. */
export function mysqlSetHas(set: MysqlGtidSet, gtid: string): boolean {
  const cut = gtid.lastIndexOf(':');
  const n = BigInt(gtid.slice(cut + 1));
  return (set.get(gtid.slice(0, cut).toLowerCase()) ?? []).some(([s, e]) => s <= n && n <= e);
}

/** The transactions of a set up to and including `uuid[:tag]:n`'s, counted as mysqlSetSize does. */
export function mysqlSetSizeUpTo(set: MysqlGtidSet, gtid: string): bigint {
  const cut = gtid.lastIndexOf(':');
  const own = gtid.slice(0, cut).toLowerCase();
  const n = BigInt(gtid.slice(cut + 1));
  let count = 0n;
  for (const [source, intervals] of set) {
    for (const [s, e] of intervals) {
      if (source !== own) count += e - s + 1n;
      else if (s <= n) count += (e < n ? e : n) - s + 1n;
    }
  }
  return count;
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
