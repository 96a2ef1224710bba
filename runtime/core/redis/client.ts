import type { Cluster, Redis } from 'ioredis';

/**
 * A connection to the service's Redis: one server (standalone, or the master Sentinel reports) or a
 * Redis Cluster (ioredis follows MOVED/ASK and the slot map). Commands on keys work the same on both;
 * what spans the whole keyspace (SCAN, SCRIPT LOAD, WAIT) goes to every master (`masters`).
 */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster === true;
}

/**
 * The masters that hold the keyspace: the cluster's masters of the moment (once the client learned
 * the slot map: before that it knows only the seeds), or the one server.
 */
export async function masters(client: RedisClient, timeoutMs = 30_000): Promise<Redis[]> {
  if (!isCluster(client)) return [client];
  if (client.status !== 'ready') {
    if (client.status === 'wait') client.connect().catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', ready);
        reject(new Error(`the Redis Cluster is not ready (${client.status})`));
      }, timeoutMs);
      const ready = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', ready);
    });
  }
  return client.nodes('master');
}

/**
 * Every key matching `pattern` on every master, in SCAN batches (never KEYS: Redis stays responsive).
 * On a cluster the masters can change while the scan runs (a failover): a master the client retired
 * from its pool meanwhile (its connection ended) is dropped, and the masters of the moment are listed
 * again to scan those not scanned yet (the promoted replica holds the retired master's keys). Keys
 * may then be yielded twice; callers delete or check them, which is idempotent.
 */
export async function* scanKeys(
  client: RedisClient,
  pattern: string,
  count = 1000,
): AsyncGenerator<string[]> {
  const scanned = new Set<string>();
  for (let listing = 0; listing < 10; listing++) {
    let retired = false;
    for (const node of await masters(client)) {
      const address = `${node.options.host}:${node.options.port}`;
      if (scanned.has(address)) continue;
      let cursor = '0';
      try {
        do {
          const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
          cursor = next;
          if (found.length > 0) yield found;
        } while (cursor !== '0');
      } catch (err) {
        if (!isCluster(client) || node.status !== 'end') throw err;
        retired = true;
        continue;
      }
      scanned.add(address);
    }
    if (!retired) return;
  }
  throw new Error('the Redis Cluster kept retiring masters while its keys were scanned');
}

/** Connection state: 'ready' when commands can be sent. */
export function clientStatus(client: RedisClient): string {
  return client.status;
}

/**
 * ioredis's own refusal of an auto-pipeline whose commands were grouped by node before the slot map
 * changed (a resharding): raised before anything is sent, so the commands are safe to send again.
 */
const STALE_PIPELINE_GROUP = 'All keys in the pipeline should belong to the same slots allocation group';

/**
 * Errors a cluster answers while a slot moves or a master fails over; the command is safe to send
 * again (ioredis follows MOVED/ASK for single commands, not always inside a pipeline).
 */
export function isClusterRedirect(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|READONLY) /.test(err.message) ||
    err.message === STALE_PIPELINE_GROUP
  );
}

/**
 * Runs a command again (up to `attempts`, briefly backing off) while a cluster answers that it moved a
 * slot or is failing a master over: inside an auto-pipeline ioredis hands such answers back instead of
 * following them. Every command this is used with is idempotent (reads, version-guarded scripts).
 */
export async function retryRedirects<T>(run: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isClusterRedirect(err) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 25 * attempt));
    }
  }
}
