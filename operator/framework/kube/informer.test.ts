import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../runtime/core/backoff.ts';
import { createLogger } from '../../../runtime/core/logger.ts';
import { Informer, type ListResult, type ListWatchSource, type WatchEventType } from './informer.ts';

type Obj = KubernetesObject;
const obj = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

/** A scripted API server: lists come from `listResults`, each watch is recorded and driven by the test. */
class FakeSource implements ListWatchSource<Obj> {
  listResults: (ListResult<Obj> | Error)[] = [];
  lists = 0;
  watches: { rv: string; emit: (t: WatchEventType, o: Obj) => void; end: (err?: unknown) => void }[] = [];

  async list(): Promise<ListResult<Obj>> {
    this.lists += 1;
    const next = this.listResults.shift();
    if (!next) throw new Error('no list result scripted');
    if (next instanceof Error) throw next;
    return next;
  }

  async watch(rv: string, onEvent: (t: WatchEventType, o: Obj) => void, done: (err?: unknown) => void) {
    this.watches.push({ rv, emit: onEvent, end: done });
    return { abort: () => {} };
  }
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
};

function setup() {
  const source = new FakeSource();
  const events: string[] = [];
  const restarts: string[] = [];
  const informer = new Informer<Obj>({
    resource: 'test',
    source,
    log: createLogger('test', 'silent'),
    backoff: new Backoff({ baseMs: 1, maxMs: 4, jitter: 0 }),
    onRestart: (r) => restarts.push(r),
  });
  informer.on((type, o) => events.push(`${type} ${o.metadata?.name}@${o.metadata?.resourceVersion}`));
  return { source, informer, events, restarts };
}

describe('Informer', () => {
  it('lists, then watches from the list resourceVersion and keeps the cache current', async () => {
    const { source, informer, events } = setup();
    source.listResults.push({ items: [obj('a', '5')], resourceVersion: '10' });
    informer.start();
    await informer.waitForSync();
    await until(() => source.watches.length === 1);
    expect(source.watches[0]?.rv).toBe('10');
    source.watches[0]?.emit('MODIFIED', obj('a', '11'));
    source.watches[0]?.emit('ADDED', obj('b', '12'));
    source.watches[0]?.emit('DELETED', obj('a', '13'));
    expect(events).toEqual(['ADDED a@5', 'MODIFIED a@11', 'ADDED b@12', 'DELETED a@13']);
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(['b']);
    informer.stop();
  });

  it('resumes a closed or failed watch from the last resourceVersion seen, bookmarks included', async () => {
    const { source, informer, restarts } = setup();
    source.listResults.push({ items: [], resourceVersion: '10' });
    informer.start();
    await until(() => source.watches.length === 1);
    source.watches[0]?.emit('BOOKMARK', obj('', '20'));
    source.watches[0]?.end();
    await until(() => source.watches.length === 2);
    expect(source.watches[1]?.rv).toBe('20');
    source.watches[1]?.end(new Error('connection reset'));
    await until(() => source.watches.length === 3);
    expect(source.watches[2]?.rv).toBe('20');
    expect(source.lists).toBe(1);
    expect(restarts).toEqual(['watch failed: connection reset']);
    informer.stop();
  });

  it('relists on 410 Gone and delivers what changed meanwhile as events', async () => {
    const { source, informer, events } = setup();
    source.listResults.push({ items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' });
    source.listResults.push({ items: [obj('a', '15'), obj('c', '16')], resourceVersion: '30' });
    informer.start();
    await until(() => source.watches.length === 1);
    source.watches[0]?.emit('ERROR', { code: 410, message: 'too old resource version' } as unknown as Obj);
    await until(() => source.watches.length === 2);
    expect(source.watches[1]?.rv).toBe('30');
    expect(events.slice(2)).toEqual(['MODIFIED a@15', 'ADDED c@16', 'DELETED b@2']);
    informer.stop();
  });

  it('retries a failing list with backoff instead of giving up', async () => {
    const { source, informer } = setup();
    source.listResults.push(new Error('apiserver down'), new Error('apiserver down'));
    source.listResults.push({ items: [obj('a', '1')], resourceVersion: '3' });
    informer.start();
    await informer.waitForSync();
    expect(source.lists).toBe(3);
    expect(informer.get('ns/a')?.metadata?.resourceVersion).toBe('1');
    informer.stop();
  });
});
