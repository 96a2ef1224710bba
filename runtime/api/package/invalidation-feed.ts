import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { backoffDelay } from '../../core/backoff.ts';
import type { Logger } from '../../core/logger.ts';
import { createCluster } from '../../core/redis/connect.ts';

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

/** A feed of every change under the prefixes: one Redis server's, or every cluster master's. */
export interface InvalidationFeed {
  /** True while every change under the prefixes is being reported. */
  readonly healthy: boolean;
  start(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

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
export class RedisInvalidationFeed implements InvalidationFeed {
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
      retryStrategy: (attempt) => backoffDelay(attempt, { baseMs: 50, maxMs: 2000, jitter: 0 }),
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
      const delayMs = backoffDelay(this.setUpFailures++, { baseMs: 250, maxMs: 10_000, jitter: 0 });
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

/**
 * The feed of a Redis Cluster: one RedisInvalidationFeed (tracking, its own connection) on every master,
 * following the topology. The masters are read from the cluster (CLUSTER SLOTS) every `topologyMs`;
 * a new master (a promoted replica, a node given slots) gets a feed of its own and a master that is
 * gone loses its feed. Healthy only while the topology is known and fresh and every master's feed is
 * up: a change on a master without a working feed would go unreported, so the listener forgets
 * everything on every transition (each master's feed flushes when it goes up or down) and nothing is
 * kept meanwhile. A key moved by resharding is reported by both masters (deleted on one, restored on
 * the other).
 */
export class ClusterInvalidationFeed implements InvalidationFeed {
  private readonly nodes: { host: string; port: number }[];
  private readonly nodeOptions: RedisOptions;
  private readonly listener: InvalidationListener;
  private readonly opts: InvalidationFeedOptions & { topologyMs?: number };
  private readonly feeds = new Map<string, RedisInvalidationFeed>();
  private probe: Cluster | undefined;
  private timer: NodeJS.Timeout | undefined;
  private topologyAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private up = false;
  /** What each master's feed reports to: the listener, and a health update on its transitions. */
  private readonly relay: InvalidationListener;

  constructor(
    nodes: { host: string; port: number }[],
    nodeOptions: RedisOptions,
    listener: InvalidationListener,
    opts: InvalidationFeedOptions & { topologyMs?: number },
  ) {
    if (opts.prefixes.length === 0) throw new RangeError('at least one prefix is needed');
    this.nodes = nodes;
    this.nodeOptions = nodeOptions;
    this.listener = listener;
    this.opts = opts;
    this.relay = {
      keys: (keys) => listener.keys(keys),
      flush: (reason) => {
        listener.flush(reason);
        // A master's feed went up or down: queued, so its own state has changed when this runs.
        queueMicrotask(() => this.update());
      },
    };
  }

  private get topologyMs(): number {
    return this.opts.topologyMs ?? 1000;
  }

  /** Asked on every near-cache lookup: a field, recomputed on every transition (`update`). */
  get healthy(): boolean {
    return this.up;
  }

  /**
   * Recomputes health after a master's feed changed state or the topology was read (or not). Going
   * down tells the listener to forget everything (a master's own feed does too, the stale topology
   * case needs it here); coming up needs no flush beyond the one each master's feed sent.
   */
  private update(): void {
    let up = this.feeds.size > 0 && Date.now() - this.topologyAt < 3 * this.topologyMs;
    if (up) for (const f of this.feeds.values()) if (!f.healthy) up = false;
    if (!up && this.up) this.listener.flush('feed_down');
    this.up = up;
  }

  /** The masters watched at the moment (`host:port`). */
  get masters(): string[] {
    return [...this.feeds.keys()];
  }

  async start(timeoutMs = 10_000): Promise<void> {
    this.probe = createCluster(this.nodes, this.nodeOptions, {
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      connectionName: 'api-invalidation-topology',
    });
    this.probe.on('error', (err: unknown) =>
      this.opts.log?.warn({ err }, 'invalidation feed: cluster error'),
    );
    this.timer = setInterval(() => {
      this.update(); // a topology read that hangs makes it stale too
      void this.refresh();
    }, this.topologyMs);
    this.timer.unref();
    const deadline = Date.now() + timeoutMs;
    await this.probe.connect().catch(() => undefined);
    await this.refresh();
    while (!this.up) {
      if (this.stopped) throw new Error('invalidation feed stopped');
      if (Date.now() > deadline) throw new Error('invalidation feed did not come up on every master');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.feeds.values()].map((f) => f.stop()));
    this.feeds.clear();
    this.update();
    this.probe?.disconnect();
  }

  private refreshing = false;

  /** Reads the masters and makes the feeds follow them. */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.stopped || !this.probe) return;
    this.refreshing = true;
    try {
      const slots = await this.probe.cluster('SLOTS');
      const masters = new Set(slots.flatMap(([, , master]) => (master ? [`${master[0]}:${master[1]}`] : [])));
      for (const [address, feed] of this.feeds) {
        if (masters.has(address)) continue;
        this.feeds.delete(address);
        void feed.stop();
        this.listener.flush('feed_down');
        this.opts.log?.info({ master: address }, 'invalidation feed: master left the cluster');
      }
      for (const address of masters) {
        if (this.feeds.has(address) || this.stopped) continue;
        const cut = address.lastIndexOf(':');
        const feed = new RedisInvalidationFeed(
          { ...this.nodeOptions, host: address.slice(0, cut), port: Number(address.slice(cut + 1)) },
          this.relay,
          this.opts,
        );
        this.feeds.set(address, feed);
        feed
          .start()
          .catch((err: unknown) =>
            this.opts.log?.warn({ err, master: address }, 'invalidation feed: not up on a master yet'),
          );
      }
      this.topologyAt = Date.now();
    } catch (err) {
      if (!this.stopped) this.opts.log?.warn({ err }, 'invalidation feed: the cluster topology is not known');
    } finally {
      this.refreshing = false;
      this.update();
    }
  }
}
