import type { Redis } from 'ioredis';

/**
 * Confirms that the writes of a batch reached Redis replicas before its offsets are committed: with
 * Sentinel, a failover promotes a replica, and a write only the old master had would be lost while
 * its offset says it was applied (and the ready marker, long replicated, says Redis is complete).
 *
 * `WAIT numreplicas timeout` on the connection that wrote the batch, for as many replicas as asked or
 * as the master has connected, whichever is fewer (no replica connected: nothing a failover could
 * promote, and no WAIT, which would only sit out its timeout). Fewer acknowledgements is a failure:
 * the batch is applied again and confirmed again, so a failover in between replays it on the new
 * master. The replica count is read from INFO at most once a second, and again on a shortfall.
 */
export class ReplicaAcks {
  private readonly redis: Pick<Redis, 'call' | 'info'>;
  private readonly replicas: number;
  private readonly timeoutMs: number;
  private connected = { count: 0, atMs: Number.NEGATIVE_INFINITY };

  constructor(redis: Pick<Redis, 'call' | 'info'>, opts: { replicas: number; timeoutMs: number }) {
    this.redis = redis;
    this.replicas = opts.replicas;
    this.timeoutMs = opts.timeoutMs;
  }

  async confirm(): Promise<void> {
    const need = Math.min(this.replicas, await this.connectedReplicas(false));
    if (need === 0) return;
    const acked = Number(await this.redis.call('WAIT', need, this.timeoutMs));
    if (acked >= need) return;
    const now = Math.min(this.replicas, await this.connectedReplicas(true));
    if (acked >= now) return;
    throw new Error(`${acked} of ${now} Redis replicas acknowledged the batch within ${this.timeoutMs} ms`);
  }

  private async connectedReplicas(fresh: boolean): Promise<number> {
    if (!fresh && Date.now() - this.connected.atMs < 1000) return this.connected.count;
    const info = await this.redis.info('replication');
    const count = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    this.connected = { count, atMs: Date.now() };
    return count;
  }
}
