import type { PoolConnection } from 'mysql2/promise';

type Flavor = 'mariadb' | 'mysql';
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
