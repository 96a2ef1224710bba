import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/core/logger.ts';
import { KubeApiError } from './kube/http.ts';
import type { LeaseStore } from './kube/ports.ts';
import { LeaderElector } from './leader.ts';

/** An in-memory Lease with the API server's optimistic concurrency (resourceVersion, 409). */
class FakeLeases implements LeaseStore {
  lease: V1Lease | undefined;
  rv = 0;
  failing = new Set<string>();

  private check(who: string) {
    if (this.failing.has(who)) throw new Error('apiserver unreachable');
  }

  async get(): Promise<V1Lease | undefined> {
    return this.lease && structuredClone(this.lease);
  }
  async create(l: V1Lease): Promise<V1Lease> {
    this.check(l.spec?.holderIdentity ?? '');
    if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists', {});
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
  async replace(l: V1Lease): Promise<V1Lease> {
    this.check(l.spec?.holderIdentity || 'release');
    if (l.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified', {});
    }
    this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
}

function candidate(store: FakeLeases, identity: string, clock: { t: number }, log: string[]) {
  return new LeaderElector({
    store,
    namespace: 'ns',
    name: 'op',
    identity,
    log: createLogger('test', 'silent'),
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    now: () => clock.t,
    onStartedLeading: () => log.push(`${identity} leads`),
    onStoppedLeading: () => log.push(`${identity} stops`),
  });
}

describe('LeaderElector', () => {
  it('lets exactly one of two candidates lead and keeps it while it renews', async () => {
    const store = new FakeLeases();
    const clock = { t: 0 };
    const log: string[] = [];
    const a = candidate(store, 'a', clock, log);
    const b = candidate(store, 'b', clock, log);
    await Promise.all([a.attempt(), b.attempt()]);
    for (let i = 0; i < 10; i++) {
      clock.t += 2_000;
      await a.attempt();
      await b.attempt();
    }
    expect(log).toEqual(['a leads']);
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
  });

  it('takes over only after the lease went unrenewed for leaseDuration, after the old leader stepped down', async () => {
    const store = new FakeLeases();
    const clock = { t: 0 };
    const log: string[] = [];
    const a = candidate(store, 'a', clock, log);
    const b = candidate(store, 'b', clock, log);
    await a.attempt();
    await b.attempt();
    store.failing.add('a'); // a is cut off from the API server
    for (let i = 0; i < 10; i++) {
      clock.t += 2_000;
      await a.attempt();
      await b.attempt();
      if (b.isLeader) expect(a.isLeader).toBe(false);
    }
    expect(log).toEqual(['a leads', 'a stops', 'b leads']);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
  });

  it('releases the lease on stop so a standby takes over at once', async () => {
    const store = new FakeLeases();
    const clock = { t: 0 };
    const log: string[] = [];
    const a = candidate(store, 'a', clock, log);
    const b = candidate(store, 'b', clock, log);
    await a.attempt();
    await b.attempt();
    await a.stop();
    clock.t += 1;
    await b.attempt();
    expect(log).toEqual(['a leads', 'a stops', 'b leads']);
  });
});
