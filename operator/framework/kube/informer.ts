import type { KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '../../../runtime/core/backoff.ts';
import type { Logger } from '../../../runtime/core/logger.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export type ListResult<T> = { items: T[]; resourceVersion: string };

/** Where an informer lists and watches; the real one talks to the API server, tests pass fakes. */
export interface ListWatchSource<T extends KubernetesObject> {
  list(): Promise<ListResult<T>>;
  /** Starts a watch from resourceVersion; `done` is called exactly once when it ends, for any reason. */
  watch(
    resourceVersion: string,
    onEvent: (type: WatchEventType, obj: T) => void,
    done: (err?: unknown) => void,
  ): Promise<{ abort(): void }>;
}

export type InformerHandler<T> = (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T, old: T | undefined) => void;

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

/** Raised for a watch ERROR event carrying 410 Gone: the resourceVersion is too old, relist. */
export class ResourceExpiredError extends Error {
  override readonly name = 'ResourceExpiredError';
}

function isGone(err: unknown): boolean {
  if (err instanceof ResourceExpiredError) return true;
  const e = err as { code?: number; statusCode?: number } | undefined;
  return e?.code === 410 || e?.statusCode === 410;
}

/**
 * List + watch into a local cache that never silently stops: a watch that ends is resumed from the
 * last resourceVersion seen (bookmarks included), an expired resourceVersion (410) triggers a relist
 * whose differences are delivered as events, and failures are retried with exponential backoff.
 */
export class Informer<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly source: ListWatchSource<T>;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly onRestart: (reason: string) => void;
  private resourceVersion = '';
  private running = false;
  private synced = false;
  private current: { abort(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];
  readonly resource: string;

  constructor(opts: {
    resource: string;
    source: ListWatchSource<T>;
    log: Logger;
    backoff?: Backoff;
    onRestart?: (reason: string) => void;
  }) {
    this.resource = opts.resource;
    this.source = opts.source;
    this.log = opts.log.child({ informer: opts.resource });
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 200, maxMs: 30_000, jitter: 0.2 });
    this.onRestart = opts.onRestart ?? (() => {});
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Resolves once the first list has been delivered. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.relist();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.current?.abort();
    this.current = undefined;
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.log.error({ err }, 'informer handler failed');
      }
    }
  }

  private retry(what: 'relist' | 'rewatch', reason: string): void {
    if (!this.running) return;
    const delay = this.backoff.next();
    this.onRestart(reason);
    this.log.warn({ reason, delayMs: delay, resourceVersion: this.resourceVersion }, `${what} after backoff`);
    this.timer = setTimeout(() => void (what === 'relist' ? this.relist() : this.rewatch()), delay);
    this.timer.unref();
  }

  private async relist(): Promise<void> {
    if (!this.running) return;
    let result: ListResult<T>;
    try {
      result = await this.source.list();
    } catch (err) {
      this.retry('relist', `list failed: ${(err as Error).message}`);
      return;
    }
    if (!this.running) return;
    const seen = new Set<string>();
    for (const obj of result.items) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('ADDED', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.emit('MODIFIED', obj, old);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('DELETED', old, old);
      }
    }
    this.resourceVersion = result.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    await this.rewatch();
  }

  private async rewatch(): Promise<void> {
    if (!this.running) return;
    let ended = false;
    const done = (err?: unknown) => {
      if (ended) return;
      ended = true;
      this.current = undefined;
      if (!this.running) return;
      if (isGone(err)) {
        this.retry('relist', 'resourceVersion expired (410)');
      } else if (err) {
        this.retry('rewatch', `watch failed: ${(err as Error).message ?? String(err)}`);
      } else {
        // A watch the server closed normally (timeoutSeconds): resume at once from where it stopped.
        setImmediate(() => void this.rewatch());
      }
    };
    try {
      let handle: { abort(): void } | undefined;
      handle = await this.source.watch(
        this.resourceVersion,
        (type, obj) => {
          if (ended) return;
          if (type !== 'ERROR') return this.onEvent(type, obj);
          const status = obj as unknown as { code?: number; message?: string };
          handle?.abort();
          done(
            status.code === 410
              ? new ResourceExpiredError(status.message ?? 'resource version too old')
              : new Error(`watch error ${status.code}: ${status.message}`),
          );
        },
        done,
      );
      if (ended || !this.running) handle.abort();
      else this.current = handle;
    } catch (err) {
      done(err);
    }
  }

  private onEvent(type: Exclude<WatchEventType, 'ERROR'>, obj: T): void {
    this.backoff.reset();
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (type === 'DELETED') {
      this.cache.delete(key);
      this.emit('DELETED', obj, old);
    } else {
      this.cache.set(key, obj);
      this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
    }
  }
}
