import { describe, expect, it } from 'vitest';
import type { ServerBinlogState } from '../../../runtime/core/binlog/server.ts';
import { secondsBehindSource } from './lag.ts';

const server: ServerBinlogState = {
  flavor: 'mariadb',
  files: [{ name: 'b.000002', size: 900 }],
  head: { file: 'b.000002', pos: 900 },
  gtidExecuted: '0-1-100',
  gtidPurged: '0-1-1',
  nowMs: 1_000_000,
};

describe('secondsBehindSource', () => {
  it('is 0 at the head, whatever the age of the last event', () => {
    expect(secondsBehindSource({ position: { gtid: '0-1-100' }, sourceTsMs: 0 }, server)).toBe(0);
    expect(secondsBehindSource({ position: { file: 'b.000002', pos: 900 }, sourceTsMs: 0 }, server)).toBe(0);
  });
  it('is the age of the last covered event on the server clock when behind', () => {
    expect(secondsBehindSource({ position: { gtid: '0-1-99' }, sourceTsMs: 987_650 }, server)).toBe(12.4);
  });
  it('is unknown when behind without an event time, and never negative', () => {
    expect(secondsBehindSource({ position: { gtid: '0-1-99' } }, server)).toBeUndefined();
    expect(
      secondsBehindSource({ position: { file: 'b.000002', pos: 4 }, sourceTsMs: 2_000_000 }, server),
    ).toBe(0);
  });
});
