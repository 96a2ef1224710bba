import type mysql from 'mysql2/promise';
import {
  CAPTURE_VARIABLES,
  captureProblems,
  type Flavor,
  flavorOfVersion,
  readSourcePosition,
} from '../core/binlog/source.ts';
import { connectMysql } from '../core/db/pool.ts';

export type SourceInfo = {
  flavor: Flavor;
  version: string;
  serverId: number;
  /** Current end of the binlog. */
  gtidPos: string | null;
  file: string;
  pos: number;
};

export class SourceNotSupportedError extends Error {
  constructor(problems: string[]) {
    super(`the source's binary log cannot support change capture:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SourceNotSupportedError';
  }
}

/**
 * Checks the server's binlog settings and returns where its binlog ends. Refuses (with the setting
 * to change) anything that would make capture lossy or undecodable, and captured databases the user
 * cannot read: the snapshot would find no tables there and say nothing.
 */
export async function checkSource(
  mysqlUrl: string,
  producerServerId: number,
  databases: readonly string[] = [],
): Promise<SourceInfo> {
  const conn = await connectMysql(mysqlUrl);
  try {
    const [vars] = await conn.query<mysql.RowDataPacket[]>(
      'SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)',
      [CAPTURE_VARIABLES],
    );
    const v = new Map(vars.map((r) => [String(r.Variable_name), String(r.Value)]));
    const version = v.get('version') ?? '';
    const flavor = flavorOfVersion(version);
    const [privileges] = await conn.query<mysql.RowDataPacket[]>(
      // A privileged account sees every user's rows: only its own count.
      `SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES
        WHERE GRANTEE = CONCAT("'", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "'@'",
                               SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'")`,
    );
    const problems = captureProblems(
      flavor,
      v,
      privileges.map((r) => String(r.p)),
    );
    const serverId = Number(v.get('server_id') ?? 0);
    if (serverId === producerServerId) {
      problems.push(
        `PRODUCER_SERVER_ID ${producerServerId} equals the source's own server_id: choose another`,
      );
    }
    if (databases.length > 0) {
      // information_schema lists only the databases the user holds a privilege on.
      const [visible] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT SCHEMA_NAME AS db FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?)',
        [databases],
      );
      const readable = new Set(visible.map((r) => String(r.db)));
      for (const db of databases.filter((d) => !readable.has(d))) {
        problems.push(
          `database ${db} does not exist or the replication user cannot read it: GRANT SELECT ON \`${db.replace(/[_%]/g, '\\$&')}\`.* TO the user`,
        );
      }
    }
    if (problems.length > 0) throw new SourceNotSupportedError(problems);

    const position = await readSourcePosition(conn);
    return { flavor, version, serverId, gtidPos: position.gtid, file: position.file, pos: position.pos };
  } finally {
    await conn.end().catch(() => undefined);
  }
}
