import mysql from 'mysql2/promise';
import { mysqlEndpoint } from '../core/db/pool.ts';

export type SourceInfo = {
  flavor: 'mariadb' | 'mysql';
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

async function connect(url: string) {
  const { host, port, user, password, ssl } = mysqlEndpoint(url);
  return mysql.createConnection({ host, port, user, password, ...(ssl && { ssl }) });
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
  const conn = await connect(mysqlUrl);
  try {
    const [vars] = await conn.query<mysql.RowDataPacket[]>(
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN
        ('version','server_id','log_bin','binlog_format','binlog_row_image','binlog_row_metadata',
         'gtid_mode','gtid_binlog_pos','gtid_executed','binlog_transaction_compression','binlog_row_value_options')`,
    );
    const v = new Map(vars.map((r) => [String(r.Variable_name), String(r.Value)]));
    const version = v.get('version') ?? '';
    const flavor = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
    const problems: string[] = [];
    const want = (name: string, expected: string, remedy: string) => {
      const actual = v.get(name);
      if (actual?.toUpperCase() !== expected) problems.push(`${name} is ${actual ?? 'unset'}; ${remedy}`);
    };
    want('log_bin', 'ON', 'enable the binary log (log_bin)');
    want('binlog_format', 'ROW', 'set binlog_format=ROW');
    want(
      'binlog_row_image',
      'FULL',
      'set binlog_row_image=FULL (before images are needed for updates and deletes)',
    );
    want(
      'binlog_row_metadata',
      'FULL',
      'set binlog_row_metadata=FULL (column names and types travel with every row)',
    );
    if (flavor === 'mysql') {
      want('gtid_mode', 'ON', 'set gtid_mode=ON and enforce_gtid_consistency=ON');
      if (v.get('binlog_transaction_compression')?.toUpperCase() === 'ON') {
        problems.push(
          'binlog_transaction_compression is ON; compressed transactions cannot be decoded: set it OFF',
        );
      }
      if (v.get('binlog_row_value_options')?.toUpperCase() === 'PARTIAL_JSON') {
        problems.push(
          'binlog_row_value_options is PARTIAL_JSON; partial JSON updates cannot be decoded: unset it',
        );
      }
    }
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

    const [status] = await conn
      .query<mysql.RowDataPacket[]>(flavor === 'mariadb' ? 'SHOW MASTER STATUS' : 'SHOW BINARY LOG STATUS')
      .catch(() => conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS'));
    const file = String(status[0]?.File ?? '');
    const pos = Number(status[0]?.Position ?? 4);
    const gtidPos = (flavor === 'mariadb' ? v.get('gtid_binlog_pos') : v.get('gtid_executed')) ?? '';
    return {
      flavor,
      version,
      serverId,
      gtidPos: gtidPos === '' ? null : gtidPos.replace(/\s+/g, ''),
      file,
      pos,
    };
  } finally {
    await conn.end().catch(() => undefined);
  }
}
