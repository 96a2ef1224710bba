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

/** The masters that hold the keyspace: the cluster's masters of the moment, or the one server. */
export function masters(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** Every key matching `pattern` on every master, in SCAN batches (never KEYS: Redis stays responsive). */
export async function* scanKeys(
  client: RedisClient,
  pattern: string,
  count = 1000,
): AsyncGenerator<string[]> {
  for (const node of masters(client)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (found.length > 0) yield found;
    } while (cursor !== '0');
  }
}

/** Connection state: 'ready' when commands can be sent. */
export function clientStatus(client: RedisClient): string {
  return client.status;
}

/**
 * Errors a cluster answers while a slot moves or a master fails over; the command is safe to send
 * again (ioredis follows MOVED/ASK for single commands, not always inside a pipeline).
 */
export function isClusterRedirect(err: unknown): boolean {
  return err instanceof Error && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|READONLY) /.test(err.message);
}
