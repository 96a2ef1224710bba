import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../runtime/core/logger.ts';
import { microTime } from './events.ts';
import type { LeaseStore } from './kube/ports.ts';

export type LeaderElectionOptions = {
  store: LeaseStore;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  now?: () => number;
};

/**
 * Lease-based leader election with client-go's rules. A lease held by someone else is taken over only
 * after it has not changed for leaseDuration *as observed by this process* (no clock comparison
 * across machines). The leader that cannot renew within renewDeadline (< leaseDuration) steps down
 * before anyone may take over, so two replicas never act at once. Writes use the Lease's
 * resourceVersion, so concurrent candidates cannot both win. On stop() the lease is released.
 */
export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'log' | 'store'>>;
  private readonly store: LeaseStore;
  private readonly log: Logger;
  private observed: { holder: string; renewTime: string; at: number; transitions: number } | undefined;
  private lease: V1Lease | undefined;
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private tick: Promise<void> = Promise.resolve();

  constructor(opts: LeaderElectionOptions) {
    this.store = opts.store;
    this.log = opts.log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      now: Date.now,
      ...opts,
    };
    if (this.options.renewDeadlineMs >= this.options.leaseDurationMs)
      throw new Error('renewDeadline must be < leaseDuration');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.tick = this.attempt().finally(() => this.schedule(this.options.retryPeriodMs));
    }, delay);
  }

  /** One election round: acquire or renew; steps down when renewing failed for renewDeadline. */
  async attempt(): Promise<void> {
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.log.warn({ err }, 'lease update failed');
    }
    const now = this.options.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.log.info('became leader');
        this.options.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew >= this.options.renewDeadlineMs) {
      this.leading = false;
      this.log.error(
        { renewDeadlineMs: this.options.renewDeadlineMs },
        'could not renew the lease: stepping down',
      );
      this.options.onStoppedLeading();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.options.now();
    const nowTime = microTime(new Date(now));
    const seconds = Math.ceil(this.options.leaseDurationMs / 1000);
    const current = await this.store.get(this.options.namespace, this.options.name);
    if (!current) {
      this.lease = await this.store.create({
        metadata: { name: this.options.name, namespace: this.options.namespace },
        spec: {
          holderIdentity: this.options.identity,
          leaseDurationSeconds: seconds,
          acquireTime: nowTime as unknown as Date,
          renewTime: nowTime as unknown as Date,
          leaseTransitions: 0,
        },
      });
      this.observe(this.lease, now);
      return true;
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = String(spec.renewTime ?? '');
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observe(current, now);
    }
    const mine = holder === this.options.identity;
    const free = holder === '';
    const expired = this.observed !== undefined && now - this.observed.at > this.options.leaseDurationMs;
    if (!mine && !free && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (mine ? 0 : 1);
    this.lease = await this.store.replace({
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.options.identity,
        leaseDurationSeconds: seconds,
        acquireTime: (mine ? spec.acquireTime : nowTime) as Date,
        renewTime: nowTime as unknown as Date,
        leaseTransitions: transitions,
      },
    });
    this.observe(this.lease, now);
    return true;
  }

  private observe(lease: V1Lease, at: number): void {
    this.observed = {
      holder: lease.spec?.holderIdentity ?? '',
      renewTime: String(lease.spec?.renewTime ?? ''),
      at,
      transitions: lease.spec?.leaseTransitions ?? 0,
    };
  }

  /** Stops campaigning; a leader releases the lease so a standby takes over without waiting. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.tick;
    if (!this.leading || !this.lease) return;
    this.leading = false;
    try {
      const current = await this.store.get(this.options.namespace, this.options.name);
      if (current?.spec?.holderIdentity === this.options.identity) {
        await this.store.replace({
          ...current,
          spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1 },
        });
        this.log.info('released the lease');
      }
    } catch (err) {
      this.log.warn({ err }, 'could not release the lease');
    }
    this.options.onStoppedLeading();
  }
}
