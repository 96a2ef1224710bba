import { describe, expect, it } from 'vitest';
import { ReplicaAcks } from './replica-acks.ts';

function fakeRedis(replicas: number, acks: number) {
  const calls: string[] = [];
  const redis = {
    info: async () => {
      calls.push('info');
      return `# Replication\r\nrole:master\r\nconnected_slaves:${replicas}\r\n`;
    },
    call: async (...args: unknown[]) => {
      calls.push(args.join(' '));
      return acks;
    },
  };
  return { redis: redis as unknown as ConstructorParameters<typeof ReplicaAcks>[0], calls };
}

describe('ReplicaAcks', () => {
  it('sends no WAIT when the master has no replica (it would only sit out its timeout)', async () => {
    const { redis, calls } = fakeRedis(0, 0);
    const acks = new ReplicaAcks(redis, { replicas: 1, timeoutMs: 1000 });
    await acks.confirm();
    await acks.confirm();
    expect(calls).toEqual(['info']);
  });

  it('waits for as many replicas as asked or connected, and fails on a shortfall', async () => {
    const ok = fakeRedis(1, 1);
    await new ReplicaAcks(ok.redis, { replicas: 2, timeoutMs: 50 }).confirm();
    expect(ok.calls).toEqual(['info', 'WAIT 1 50']);
    const lagging = fakeRedis(1, 0);
    await expect(new ReplicaAcks(lagging.redis, { replicas: 1, timeoutMs: 50 }).confirm()).rejects.toThrow(
      '0 of 1 Redis replicas acknowledged the batch within 50 ms',
    );
    expect(lagging.calls).toEqual(['info', 'WAIT 1 50', 'info']);
  });
});
