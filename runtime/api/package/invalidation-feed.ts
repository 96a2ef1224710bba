import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../core/logger.ts';

/** What the feed reports; `flush` means "forget everything" (a flush in Redis, or the feed broke). */
export type InvalidationListener = {
  keys(keys: Buffer[]): void;
  flush(reason: 'redis_flush' | 'feed_down' | 'feed_up'): void;
};

export type InvalidationFeedOptions = {
  /** Key prefixes whose every change is reported (Redis `CLIENT TRACKING … BCAST PREFIX`). */
  prefixes: string[];
  /** A ping on the feed's connection this often; a missed answer counts as a broken feed. */
  heartbeatMs?: number;
  log?: Logger;
};

const CHANNEL = '__redis__:invalidate';

/**
 * Redis server-assisted invalidation (broadcasting mode): Redis itself reports every change to a key
 * under the given prefixes, whoever made it (the consumer's apply scripts, a rebuild, FLUSHALL), on a
 * dedicated connection. `healthy` is true only while that connection is subscribed with tracking on;
 * every transition tells the listener to forget everything, because changes made while the feed was
 * down were never reported.
 *
 * RESP2 on purpose: the connection redirects its invalidations to itself as Pub/Sub messages, which
 * ioredis delivers (RESP3 `invalidate` pushes are dropped by ioredis 6). ioredis reconnects by itself;
 * tracking belongs to a connection, so it is set up again on every `ready` (and not auto-resubscribed,
 * which would enter subscriber mode before tracking can be turned on).
 */
export class RedisInvalidationFeed {
  private readonly redis: Redis;
  private readonly listener: InvalidationListener;
  private readonly opts: InvalidationFeedOptions;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Bumped on every connection loss: a setup still running for an old connection never marks healthy. */
  private connection = 0;
  private up = false;
  private stopped = false;
  private onUp: (() => void) | undefined;
  private id: number | null = null;
  private setUpFailures = 0;
  private retry: NodeJS.Timeout | undefined;

  /** `connection`: how to reach Redis (standalone or Sentinel, runtime/core/redis/connect.ts). */
  constructor(connection: RedisOptions, listener: InvalidationListener, opts: InvalidationFeedOptions) {
    if (opts.prefixes.length === 0) throw new RangeError('at least one prefix is needed');
    this.listener = listener;
    this.opts = opts;
    const heartbeatMs = opts.heartbeatMs ?? 1000;
    // The feed's own settings win over the connection's (RESP2 is required, see above).
    const options: RedisOptions = {
      ...connection,
      protocol: 2,
      connectionName: 'api-invalidation-feed',
      autoResubscribe: false,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: heartbeatMs,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    };
    this.redis = new Redis(options);
    this.redis.on('messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) =>
      this.onMessage(channel, message),
    );
    this.redis.on('ready', () => this.setUp());
    this.redis.on('close', () => this.down('connection closed'));
    this.redis.on('error', (err: unknown) => this.opts.log?.warn({ err }, 'invalidation feed: redis error'));
    this.heartbeat = setInterval(() => this.beat(), heartbeatMs);
    this.heartbeat.unref();
  }

  /** True while every change under the prefixes is being reported. */
  get healthy(): boolean {
    return this.up;
  }

  /** The Redis client id of the feed's connection while it is up (tests, CLIENT LIST). */
  get clientId(): number | null {
    return this.up ? this.id : null;
  }

  /** Connects; resolves once the feed is up, rejects if it is not up within `timeoutMs`. */
  async start(timeoutMs = 10_000): Promise<void> {
    const up = new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => reject(new Error('invalidation feed did not come up')), timeoutMs);
      this.onUp = () => {
        clearTimeout(timeout);
        resolve();
      };
    });
    // Both awaited together: when connect() fails first, the deadline's later rejection is still handled.
    await Promise.all([this.redis.connect(), up]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.down('stopped');
    this.redis.disconnect();
  }

  private async setUp(): Promise<void> {
    const connection = this.connection;
    try {
      // Only the master sees every write: a Sentinel (a misconfigured URL) or a replica would accept
      // tracking and report nothing, and the near cache would serve stale pages.
      const [role] = (await this.redis.call('ROLE')) as [unknown, ...unknown[]];
      if (String(role) !== 'master')
        throw new Error(`the invalidation feed needs the Redis master, this is a ${role}`);
      const id = await this.redis.client('ID');
      this.id = id;
      await this.redis.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        String(id),
        'BCAST',
        ...this.opts.prefixes.flatMap((p) => ['PREFIX', p]),
      );
      await this.redis.subscribe(CHANNEL);
      if (connection !== this.connection || this.stopped) return;
      this.up = true;
      this.setUpFailures = 0;
      // Anything cached before this point may have missed its invalidation.
      this.listener.flush('feed_up');
      this.onUp?.();
      this.onUp = undefined;
      this.opts.log?.info({ prefixes: this.opts.prefixes }, 'invalidation feed up');
    } catch (err) {
      if (connection !== this.connection || this.stopped) return;
      // The connection itself works, so ioredis would retry at once: back off here instead.
      const delayMs = Math.min(250 * 2 ** this.setUpFailures++, 10_000);
      this.opts.log?.warn({ err, retryInMs: delayMs }, 'invalidation feed: set-up failed, reconnecting');
      this.redis.disconnect();
      this.retry = setTimeout(() => {
        if (!this.stopped) this.redis.connect().catch(() => {});
      }, delayMs);
      this.retry.unref();
    }
  }

  private down(reason: string): void {
    this.connection++;
    if (!this.up) return;
    this.up = false;
    this.listener.flush('feed_down');
    if (!this.stopped)
      this.opts.log?.warn({ reason }, 'invalidation feed down: near cache off until it is back');
  }

  private beat(): void {
    if (!this.up) return;
    const connection = this.connection;
    // commandTimeout rejects a ping that is not answered in one interval.
    this.redis.ping().catch((err: unknown) => {
      if (connection !== this.connection || this.stopped) return;
      this.opts.log?.warn({ err }, 'invalidation feed: heartbeat missed, reconnecting');
      this.down('heartbeat missed');
      this.redis.disconnect(true);
    });
  }

  private onMessage(channel: Buffer, message: Buffer[] | Buffer | null): void {
    if (!this.up || channel.toString() !== CHANNEL) return;
    // A null message is Redis's "everything changed" (FLUSHALL / FLUSHDB).
    if (message === null) this.listener.flush('redis_flush');
    else this.listener.keys(Array.isArray(message) ? message : [message]);
  }
}
