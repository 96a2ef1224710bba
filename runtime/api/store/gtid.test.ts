import { describe, expect, it } from 'vitest';
import { committedSequences, gtidStream, mysqlOwnGtid } from './gtid.ts';

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

describe('source positions', () => {
  it('name the stream and sequence of a GTID (MariaDB domain, MySQL uuid)', () => {
    expect(gtidStream('0-1-42')).toEqual({ flavor: 'mariadb', stream: '0', seq: 42n });
    expect(gtidStream(`${uuid.toUpperCase()}:7`)).toEqual({ flavor: 'mysql', stream: uuid, seq: 7n });
    expect(gtidStream('nope')).toBeNull();
    expect(gtidStream('0-1-')).toBeNull();
  });

  it('read the highest committed sequence per stream', () => {
    expect(committedSequences('mariadb', '0-1-42,1-2-7')).toEqual(
      new Map([
        ['0', 42n],
        ['1', 7n],
      ]),
    );
    expect(committedSequences('mariadb', '')).toEqual(new Map());
    expect(
      committedSequences(
        'mysql',
        `${uuid.toUpperCase()}:1-42:50-60,\naaaaaaaa-71ca-11e1-9e33-c80aa9429562:5`,
      ),
    ).toEqual(
      new Map([
        [uuid, 60n],
        ['aaaaaaaa-71ca-11e1-9e33-c80aa9429562', 5n],
      ]),
    );
  });
});
