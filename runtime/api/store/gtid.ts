import type { PoolConnection } from 'mysql2/promise';

export type Flavor = 'mariadb' | 'mysql';
const flavors = new WeakMap<object, Flavor>();

/**
 * GTID of the last transaction this connection committed, or null when the server writes no
 * binlog. MariaDB exposes it as @@last_gtid. MySQL 8 has no per-session variable, so we take the
 * highest sequence number of this server's UUID from @@gtid_executed: at least as new as our
 * commit, which is all a consistency token needs (a later position only makes reads stricter).
 */
export async function lastCommitGtid(conn: PoolConnection): Promise<string | null> {
  const flavor = flavors.get(conn.connection) ?? (await detectFlavor(conn));
  if (flavor === 'mariadb') {
    const [rows] = await conn.query('SELECT @@last_gtid AS gtid');
    const gtid = (rows as { gtid: string | null }[])[0]?.gtid;
    return gtid ? gtid : null;
  }
  const [rows] = await conn.query('SELECT @@server_uuid AS uuid, @@global.gtid_executed AS executed');
  const row = (rows as { uuid: string; executed: string }[])[0];
  return row ? mysqlOwnGtid(row.uuid, row.executed) : null;
}

async function detectFlavor(conn: PoolConnection): Promise<Flavor> {
  const [rows] = await conn.query('SELECT VERSION() AS v');
  const v = String((rows as { v: string }[])[0]?.v ?? '');
  const flavor: Flavor = /mariadb/i.test(v) ? 'mariadb' : 'mysql';
  flavors.set(conn.connection, flavor);
  return flavor;
}

/** `uuid:1-42:50-60,other:1-5` → `uuid:60` for the given server uuid. */
export function mysqlOwnGtid(uuid: string, executed: string): string | null {
  for (const set of executed.replace(/\s+/g, '').split(',')) {
    const [source, ...intervals] = set.split(':');
    if (source?.toLowerCase() !== uuid.toLowerCase()) continue;
    const last = intervals.at(-1)?.split('-').at(-1);
    return last ? `${uuid}:${last}` : null;
  }
  return null;
}

/**
 * The GTID stream a GTID belongs to and its sequence number: MariaDB `domain-server-seq` → the domain
 * (sequence numbers are monotonic per domain, whichever server wrote them); MySQL `uuid:n` → the uuid.
 */
export function gtidStream(gtid: string): { flavor: Flavor; stream: string; seq: bigint } | null {
  const maria = /^(\d{1,10})-\d{1,10}-(\d{1,20})$/.exec(gtid);
  if (maria?.[1] !== undefined && maria[2] !== undefined) {
    return { flavor: 'mariadb', stream: maria[1], seq: BigInt(maria[2]) };
  }
  const mysql = /^([0-9a-fA-F-]{36}):(\d{1,20})$/.exec(gtid);
  if (mysql?.[1] !== undefined && mysql[2] !== undefined) {
    return { flavor: 'mysql', stream: mysql[1].toLowerCase(), seq: BigInt(mysql[2]) };
  }
  return null;
}

/**
 * Highest committed sequence of each stream: MariaDB @@gtid_binlog_pos (`0-1-42,1-2-7`) or MySQL
 * @@gtid_executed (`uuid:1-42:50-60,other:1-5`).
 */
export function committedSequences(flavor: Flavor, value: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const item of value.replace(/\s+/g, '').split(',')) {
    if (item === '') continue;
    let stream: string | undefined;
    let seq: string | undefined;
    if (flavor === 'mariadb') {
      const m = /^(\d+)-\d+-(\d+)$/.exec(item);
      stream = m?.[1];
      seq = m?.[2];
    } else {
      const [source, ...intervals] = item.split(':');
      stream = source?.toLowerCase();
      seq = intervals.at(-1)?.split('-').at(-1);
    }
    if (stream === undefined || seq === undefined || !/^\d+$/.test(seq)) continue;
    const n = BigInt(seq);
    if (n > (out.get(stream) ?? -1n)) out.set(stream, n);
  }
  return out;
}
