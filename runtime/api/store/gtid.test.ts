import { describe, expect, it } from 'vitest';
import { mysqlOwnGtid } from './gtid.ts';

const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';

describe('mysqlOwnGtid', () => {
  it('takes the last sequence number of this server from gtid_executed', () => {
    expect(mysqlOwnGtid(uuid, `${uuid}:1-42:50-60`)).toBe(`${uuid}:60`);
    expect(mysqlOwnGtid(uuid, `aaaaaaaa-71ca-11e1-9e33-c80aa9429562:1-5,\n${uuid.toUpperCase()}:1-7`)).toBe(
      `${uuid}:7`,
    );
    expect(mysqlOwnGtid(uuid, `${uuid}:9`)).toBe(`${uuid}:9`);
  });

  it('returns null when this server wrote nothing', () => {
    expect(mysqlOwnGtid(uuid, '')).toBeNull();
    expect(mysqlOwnGtid(uuid, 'aaaaaaaa-71ca-11e1-9e33-c80aa9429562:1-5')).toBeNull();
  });
});
