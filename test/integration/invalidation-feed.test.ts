import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InvalidationListener,
  RedisInvalidationFeed,
} from '../../runtime/api/package/invalidation-feed.ts';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.ts';
import { freePort, waitFor } from '../support/wait.ts';

/*
 * The invalidation feed against a private redis-server that stops answering without closing its
 * connections (SIGSTOP): the heartbeat notices, the near cache is told to forget everything and stays
 * off; once the server answers again the feed comes back and reports changes again.
 */
let server: RedisProcess;
let feed: RedisInvalidationFeed;
const flushes: string[] = [];
const changed: string[] = [];
const listener: InvalidationListener = {
  keys: (keys) => changed.push(...keys.map(String)),
  flush: (reason) => flushes.push(reason),
};

beforeAll(async () => {
  server = await startRedisProcess();
  feed = new RedisInvalidationFeed({ host: '127.0.0.1', port: server.port }, listener, {
    prefixes: ['feed:{u:'],
    heartbeatMs: 300,
  });
  await feed.start(5000);
}, 15_000);

afterAll(async () => {
  await feed?.stop();
  await server?.stop();
});

describe('invalidation feed', () => {
  it('goes down when Redis stops answering and comes back with it', async () => {
    const writer = new Redis({ host: '127.0.0.1', port: server.port });
    try {
      await writer.set('feed:{u:a}:entries', '1');
      await waitFor('change reported', async () => changed.includes('feed:{u:a}:entries'), 2000);
      expect(flushes).toEqual(['feed_up']);

      server.pause();
      // One missed heartbeat (300 ms) is enough; no RST arrives from a stopped process.
      await waitFor('feed down', async () => !feed.healthy, 3000);
      expect(flushes).toContain('feed_down');

      server.resume();
      await waitFor('feed up again', async () => feed.healthy, 10_000);
      expect(flushes.at(-1)).toBe('feed_up');
      await writer.set('feed:{u:b}:entries', '1');
      await waitFor('change reported again', async () => changed.includes('feed:{u:b}:entries'), 2000);
    } finally {
      server.resume();
      writer.disconnect();
    }
  }, 20_000);

  it('rejects start() when Redis cannot be reached, and leaves nothing unhandled behind', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const nowhere = new RedisInvalidationFeed({ host: '127.0.0.1', port: await freePort() }, listener, {
      prefixes: ['feed:{u:'],
    });
    try {
      await expect(nowhere.start(300)).rejects.toThrow();
      // Past start()'s own deadline: its timer must not reject into the void.
      await new Promise((r) => setTimeout(r, 500));
      expect(unhandled).toEqual([]);
      expect(nowhere.healthy).toBe(false);
    } finally {
      await nowhere.stop();
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
