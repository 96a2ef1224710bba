import mysql, { type Connection, type ConnectionOptions, type Pool, type PoolOptions } from 'mysql2/promise';
import { type MysqlTls, mysqlTlsOf } from './tls.ts';

export type { Pool };

/**
 * Host, port, user and password of a mysql:// URL (credentials percent-decoded), plus its database
 * and its TLS settings (`ssl`, from the URL's ssl-* parameters: tls.ts; absent for plaintext).
 */
export function mysqlEndpoint(url: string): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string | undefined;
  ssl?: MysqlTls;
} {
  const u = new URL(url);
  if (u.protocol !== 'mysql:') throw new Error('MySQL URL must start with mysql://');
  const ssl = mysqlTlsOf(u);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.replace(/^\//, '') || undefined,
    ...(ssl ? { ssl } : {}),
  };
}

/** Host, port, credentials and TLS of a mysql:// URL as a MySQL client takes them (mysql2, zongji). */
export function mysqlClientOptions(
  url: string,
): Pick<ConnectionOptions, 'host' | 'port' | 'user' | 'password' | 'ssl'> {
  const { host, port, user, password, ssl } = mysqlEndpoint(url);
  return { host, port, user, password, ...(ssl && { ssl }) };
}

/**
 * One connection from a mysql:// URL, for a session a pool cannot share (a named lock, a snapshot's
 * consistent read, a short preflight); `overrides` add the session's own settings.
 */
export function connectMysql(url: string, overrides: ConnectionOptions = {}): Promise<Connection> {
  return mysql.createConnection({ ...mysqlClientOptions(url), ...overrides });
}

/**
 * A mysql2 pool from a mysql:// URL. Sessions run in UTC with utf8mb4; big numbers and DECIMALs come
 * back as strings so no value is ever rounded through a JS double.
 */
export function createPool(url: string, overrides: PoolOptions = {}): Pool {
  return mysql.createPool({
    ...mysqlEndpoint(url),
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    dateStrings: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    connectionLimit: 20,
    waitForConnections: true,
    queueLimit: 1000,
    enableKeepAlive: true,
    ...overrides,
  });
}

/** Database name in a mysql:// URL. */
export function databaseOf(url: string): string {
  const db = new URL(url).pathname.replace(/^\//, '');
  if (!db) throw new Error('MySQL URL has no database name');
  return db;
}
