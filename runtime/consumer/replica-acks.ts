import type { Redis } from 'ioredis';
import { masters, type RedisClient } from '../core/redis/client.ts';

type Node = Pick<Redis, 'call' | 'info'>;

/**
 * Confirms that the writes of a batch reached Redis replicas before its offsets are committed: with
 * Sentinel or a cluster, a failover promotes a replica, and a write only the old master had would be
 * lost while its offset says it was applied (and the ready markers, long replicated, say Redis is
 * complete).
 *
 * `WAIT numreplicas timeout` on every master's connection (the one the batch was written on: a
 * cluster client keeps one connection per node), for as many replicas as asked or as that master has
 * connected, whichever is fewer (no replica connected: nothing a failover could promote, and no WAIT,
 * which would only sit out its timeout). Fewer acknowledgements is a failure: the batch is applied
 * again and confirmed again, so a failover in between replays it on the new master. The replica
 * count is read from INFO at most once a second per master, and again on a shortfall.
 */
export class ReplicaAcks {
  private readonly nodes: () => Promise<Node[]>;
  private readonly replicas: number;
  private readonly timeoutMs: number;
  private readonly connected = new WeakMap<Node, { count: number; atMs: number }>();

  constructor(redis: RedisClient | Node, opts: { replicas: number; timeoutMs: number }) {
    this.nodes = async () => ('isCluster' in redis ? masters(redis as RedisClient) : [redis]);
    this.replicas = opts.replicas;
    this.timeoutMs = opts.timeoutMs;
  }

  async confirm(): Promise<void> {
    await Promise.all((await this.nodes()).map((node) => this.confirmOn(node)));
  }

  private async confirmOn(node: Node): Promise<void> {
    const need = Math.min(this.replicas, await this.connectedReplicas(node, false));
    if (need === 0) return;
    const acked = Number(await node.call('WAIT', need, this.timeoutMs));
    if (acked >= need) return;
    const now = Math.min(this.replicas, await this.connectedReplicas(node, true));
    if (acked >= now) return;
    throw new Error(`${acked} of ${now} Redis replicas acknowledged the batch within ${this.timeoutMs} ms`);
  }

  private async connectedReplicas(node: Node, fresh: boolean): Promise<number> {
    const known = this.connected.get(node);
    if (!fresh && known && Date.now() - known.atMs < 1000) return known.count;
    const info = await node.info('replication');
    const count = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    this.connected.set(node, { count, atMs: Date.now() });
    return count;
  }
}
