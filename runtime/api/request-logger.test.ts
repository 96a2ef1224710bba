import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyRequestLogger } from './request-logger.ts';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  const parent = pino({ level }, stream);
  return { parent, lines };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('lazy per-request logger', () => {
  it('makes no child for lines below the level, and writes the child’s lines when it logs', async () => {
    const { parent, lines } = capture('info');
    const child = vi.spyOn(parent, 'child');
    const log = lazyRequestLogger(parent, { request_id: 'r1' }, {});
    log.debug({ a: 1 }, 'not written');
    log.trace('not written');
    expect(child).not.toHaveBeenCalled();
    log.warn({ b: 2 }, 'written');
    log.error('again');
    expect(child).toHaveBeenCalledTimes(1);
    await flush();
    expect(lines.map((l) => [l.request_id, l.msg, l.b])).toEqual([
      ['r1', 'written', 2],
      ['r1', 'again', undefined],
    ]);
  });

  it('honours a route’s own level and reports the level', async () => {
    const { parent, lines } = capture('warn');
    const log = lazyRequestLogger(parent, { request_id: 'r2' }, { level: 'debug' });
    expect(log.level).toBe('debug');
    log.debug('route debug');
    await flush();
    expect(lines.map((l) => l.msg)).toEqual(['route debug']);
    expect(lazyRequestLogger(parent, { request_id: 'r3' }, {}).level).toBe('warn');
  });

  it('passes child() through with the request bindings', async () => {
    const { parent, lines } = capture('info');
    lazyRequestLogger(parent, { request_id: 'r4' }, {}).child({ part: 'x' }).info('from a child');
    await flush();
    expect(lines[0]).toMatchObject({ request_id: 'r4', part: 'x', msg: 'from a child' });
  });
});
