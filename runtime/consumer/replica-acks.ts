import type { Redis } from 'ioredis';

/**
 * Confirms that the writes of a batch reached Redis replicas before its offsets are committed: with
 * Sentinel, a failover promotes a replica, and a write only the old master had would be lost while
 * its offset says it was applied (and the ready marker, long replicated, says Redis is complete).
 *
 * `WAIT numreplicas timeout` on the connection that wrote the batch. Fewer acknowledgements than
 * asked is a failure (the batch is applied again and confirmed again, so a failover in between
 * replays it on the new master), unless the master has fewer replicas connected: then as many as
 * are connected must acknowledge, and none connected means there is nothing a failover could
 * promote in its place.
 */
export class ReplicaAcks {
  private readonly redis: Redis;
  private readonly replicas: number;
  private readonly timeoutMs: number;

  constructor(redis: Redis, opts: { replicas: number; timeoutMs: number }) {
    this.redis = redis;
    this.replicas = opts.replicas;
    this.timeoutMs = opts.timeoutMs;
  }

  async confirm(): Promise<void> {
    const acked = Number(await this.redis.call('WAIT', this.replicas, this.timeoutMs));
    if (acked >= this.replicas) return;
    const info = await this.redis.info('replication');
    const connected = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    if (acked >= Math.min(this.replicas, connected)) return;
    throw new Error(
      `${acked} of ${Math.min(this.replicas, connected)} Redis replicas acknowledged the batch within ${this.timeoutMs} ms`,
    );
  }
}
