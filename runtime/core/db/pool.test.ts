import { describe, expect, it } from 'vitest';
import { databaseOf, mysqlEndpoint } from './pool.ts';

describe('mysqlEndpoint', () => {
  it('decodes percent-encoded credentials and defaults the port', () => {
    expect(mysqlEndpoint('mysql://app%40x:p%2Fw%3A1@db.internal/payments')).toEqual({
      host: 'db.internal',
      port: 3306,
      user: 'app@x',
      password: 'p/w:1',
      database: 'payments',
    });
    expect(mysqlEndpoint('mysql://u:p@127.0.0.1:13306')).toMatchObject({ port: 13306, database: undefined });
  });

  it('refuses other schemes', () => {
    expect(() => mysqlEndpoint('postgres://u:p@h/db')).toThrow(/mysql:\/\//);
    expect(() => databaseOf('mysql://u:p@h:1/')).toThrow(/no database/);
  });
});
