import type { Pool } from 'mysql2/promise';
import { Counter, Gauge, type Registry } from 'prom-client';
import { cacheKeys } from '../core/cache/keys.ts';
import type { CachedTable } from '../core/cache/rows.ts';
import type { RowChange } from '../core/cache/writer.ts';
import type { Logger } from '../core/logger.ts';
import type { RedisClient } from '../core/redis/client.ts';
import { readSourceRow } from './source-rows.ts';
import { rowProblem } from './verify.ts';

export type ConsistencyCheckSettings = {
  /** Most checks per second; each is one MySQL primary-key point read and one Redis HMGET. 0 = off. */
  ratePerSecond: number;
  /** How long after the consumer applied a change its row is checked. */
  graceMs: number;
  /** Most rows waiting for (or failing) their check; further samples are dropped while it is full. */
  maxPending: number;
};

export type ConsistencyResult = 'consistent' | 'stale' | 'missing';

type Sample = {
  table: CachedTable;
  id: string;
  /** The user whose copy holds the row (the owner of that change); null for a package. */
  user: string | null;
  /** The newest version the consumer applied to this row since it was sampled. */
  version: string;
  /** `updated_at` of that change (null for a delete): tells "MySQL changed again" from staleness. */
  updatedAt: string | null;
  due: number;
  /** Re-checks because MySQL had moved on since the sample (bounded: a hot row still gets a verdict). */
  deferrals: number;
  /** First check that found Redis inconsistent; null while none has. */
  inconsistentSince: number | null;
};

const MAX_DEFERRALS = 3;

/** Token bucket: `take` is true at most `rate` times a second on average (bursts up to one second's). */
class Budget {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly now: () => number;
  constructor(rate: number, now: () => number) {
    this.rate = rate;
    this.now = now;
    this.tokens = Math.max(1, rate);
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(Math.max(1, this.rate), this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The continuous consistency SLO: samples rows the consumer just applied and, after a grace period,
 * checks that Redis holds MySQL's row at a version at least as new as the one applied. Each sample
 * gets one verdict (consistent, stale or missing) in `consumer_consistency_checks_total`; an
 * inconsistent row stays tracked and is re-checked every grace period until Redis agrees again, so
 * `consumer_consistency_oldest_inconsistency_seconds` is the age of the oldest one not yet resolved.
 *
 * A row changed again in MySQL since it was sampled is re-checked later instead of counted stale (its
 * newer change is probably still on its way through Kafka); a newer change the consumer applies moves
 * the sample to that version. Cost: at most `ratePerSecond` MySQL point reads per second, one at a time.
 */
export class ConsistencyChecker {
  private readonly deps: {
    pool: Pool;
    redis: RedisClient;
    prefix: string;
    settings: ConsistencyCheckSettings;
    registry: Registry;
    log: Logger;
    now?: () => number;
  };
  private readonly keys: ReturnType<typeof cacheKeys>;
  private readonly now: () => number;
  /** Insertion order is due order (every (re)arm re-inserts with now + grace). */
  private readonly pending = new Map<string, Sample>();
  private readonly sampling: Budget;
  private readonly checking: Budget;
  private readonly checks: Counter<'result'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(deps: ConsistencyChecker['deps']) {
    this.deps = deps;
    this.keys = cacheKeys(deps.prefix);
    this.now = deps.now ?? Date.now;
    this.sampling = new Budget(deps.settings.ratePerSecond, this.now);
    this.checking = new Budget(deps.settings.ratePerSecond, this.now);
    this.checks = new Counter({
      name: 'consumer_consistency_checks_total',
      help:
        'Sampled rows checked after the grace period: consistent (Redis holds MySQL row at a version at ' +
        'least as new as the one applied), stale (Redis differs or is older) or missing (MySQL has the row, Redis not)',
      labelNames: ['result'],
      registers: [deps.registry],
    });
    for (const result of ['consistent', 'stale', 'missing']) this.checks.inc({ result }, 0);
    const checker = this;
    new Gauge({
      name: 'consumer_consistency_oldest_inconsistency_seconds',
      help: 'Age of the oldest inconsistency the consistency checker found and has not seen resolved; 0 when none',
      registers: [deps.registry],
      collect() {
        this.set(checker.oldestInconsistencySeconds());
      },
    });
  }

  /** After a batch: samples some of the changes that were applied (stale duplicates are not). */
  observe(changes: readonly RowChange[], applied: readonly boolean[]): void {
    const now = this.now();
    changes.forEach((change, i) => {
      if (!applied[i]) return;
      const key = `${change.table}:${change.id}`;
      const known = this.pending.get(key);
      if (!known && (this.pending.size >= this.deps.settings.maxPending || !this.sampling.take())) return;
      const sample: Sample = known ?? {
        table: change.table,
        id: change.id,
        user: null,
        version: change.version,
        updatedAt: null,
        due: 0,
        deferrals: 0,
        inconsistentSince: null,
      };
      if (change.version > sample.version) sample.deferrals = 0;
      if (change.version >= sample.version) {
        sample.version = change.version;
        sample.updatedAt = change.after ? String(change.after.updated_at) : null;
        const image = change.after ?? change.before;
        sample.user = change.table === 'packages' || !image ? null : String(image.user_id);
      }
      this.arm(key, sample, now);
    });
  }

  start(tickMs = 100): void {
    this.timer = setInterval(() => {
      this.running ??= this.checkDue().finally(() => {
        this.running = undefined;
      });
    }, tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  oldestInconsistencySeconds(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const s of this.pending.values()) {
      if (s.inconsistentSince !== null && s.inconsistentSince < oldest) oldest = s.inconsistentSince;
    }
    return oldest === Number.POSITIVE_INFINITY ? 0 : Math.max(0, this.now() - oldest) / 1000;
  }

  /** Checks every sample that is due, as far as the query budget allows (one at a time). */
  async checkDue(): Promise<void> {
    for (const [key, sample] of this.pending) {
      if (sample.due > this.now()) return;
      if (!this.checking.take()) return;
      try {
        await this.check(key, sample);
      } catch (err) {
        // MySQL or Redis unavailable: no verdict; try again after the grace period.
        this.deps.log.debug({ err, row: key }, 'consistency check failed; retrying later');
        if (this.pending.get(key) === sample) this.arm(key, sample, this.now());
      }
    }
  }

  private async check(key: string, sample: Sample): Promise<void> {
    const checkedVersion = sample.version;
    const [mysql, cached] = await Promise.all([
      readSourceRow(this.deps.pool, sample.table, sample.id),
      this.deps.redis.hmget(
        sample.table === 'packages'
          ? this.keys.packageRow(sample.id)
          : this.keys.userRow(String(sample.user), sample.table, sample.id),
        'v',
        'd',
      ),
    ]);
    // A newer change arrived while we read: its own check decides.
    if (this.pending.get(key) !== sample || sample.version !== checkedVersion) return;
    const [version = null, data = null] = cached;
    const problem = rowProblem(mysql, data);
    const now = this.now();
    if (problem === null && version !== null && version >= sample.version) {
      if (sample.inconsistentSince === null) this.checks.inc({ result: 'consistent' });
      this.pending.delete(key);
      return;
    }
    if (sample.inconsistentSince !== null) {
      this.arm(key, sample, now);
      return;
    }
    const mysqlUpdatedAt = mysql ? String(mysql.updated_at) : null;
    if (mysqlUpdatedAt !== sample.updatedAt && sample.deferrals < MAX_DEFERRALS) {
      sample.deferrals++;
      this.arm(key, sample, now);
      return;
    }
    const result: ConsistencyResult = mysql !== null && !data ? 'missing' : 'stale';
    this.checks.inc({ result });
    sample.inconsistentSince = now;
    this.deps.log.warn(
      { row: key, result, redisVersion: version, appliedVersion: sample.version },
      'Redis is inconsistent with MySQL after the grace period',
    );
    this.arm(key, sample, now);
  }

  private arm(key: string, sample: Sample, now: number): void {
    sample.due = now + this.deps.settings.graceMs;
    this.pending.delete(key);
    this.pending.set(key, sample);
  }
}
