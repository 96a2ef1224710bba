import { describe, expect, it } from 'vitest';
import { isDependencyOutage } from './unavailable.ts';

const withCode = (code: string, extra: object = {}) => Object.assign(new Error(code), { code, ...extra });

describe('dependency outage classification', () => {
  it.each([
    ['connection refused', withCode('ECONNREFUSED')],
    ['connection reset', withCode('ECONNRESET')],
    ['connect timeout', withCode('ETIMEDOUT')],
    ['mysql2 connection lost', withCode('PROTOCOL_CONNECTION_LOST', { fatal: true })],
    ['too many connections', withCode('ER_CON_COUNT_ERROR')],
    ['server shutting down', withCode('ER_SERVER_SHUTDOWN')],
    ['mysql2 pool queue full', new Error('Queue limit reached.')],
    ['ioredis closed', new Error('Connection is closed.')],
    [
      'ioredis max retries',
      Object.assign(new Error('Reached the max retries per request limit (which is 2).'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['redis loading', new Error('LOADING Redis is loading the dataset in memory')],
    [
      'replica without its master',
      new Error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    ],
    ['replica promoted away', new Error("READONLY You can't write against a read only replica.")],
    ['cluster down', new Error('CLUSTERDOWN The cluster is down')],
    ['slot migrating', new Error('TRYAGAIN Multiple keys request during rehashing of slot')],
    ['cluster slot moved', new Error('MOVED 3999 127.0.0.1:6381')],
    [
      'auto-pipeline grouped before a resharding',
      new Error('All keys in the pipeline should belong to the same slots allocation group'),
    ],
    ['wrapped', new Error('read failed', { cause: withCode('ECONNREFUSED') })],
    ['net multi-address connect', new AggregateError([withCode('ECONNREFUSED')], 'connect failed')],
  ])('%s → outage', (_what, err) => {
    expect(isDependencyOutage(err)).toBe(true);
  });

  it.each([
    ['a SQL error', withCode('ER_DUP_ENTRY', { fatal: false })],
    ['a syntax error', withCode('ER_PARSE_ERROR')],
    ['a bug', new TypeError('x is undefined')],
    ['a Redis script error', new Error('ERR Error running script')],
    ['not an error', 'ECONNREFUSED'],
  ])('%s → not an outage', (_what, err) => {
    expect(isDependencyOutage(err)).toBe(false);
  });
});
