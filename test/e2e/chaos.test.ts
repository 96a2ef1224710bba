// kill -9 of every component, one at a time, under a purchase → confirm → refund load and direct SQL
// changes: the producer while a Kafka transaction is open (restarted only after the broker aborted
// it), the consumer, the api, MariaDB, Redis and Kafka. A killed service is restarted as a supervisor
// would; a service whose dependency was killed must come back by itself. At the end the shipped
// checker (`make verify`) finds Redis equal to MySQL, and every write the load was answered 2xx for
// is in MySQL and in Redis with the status it was answered with.
//
// The suite runs its own MariaDB, Redis and Kafka (the `chaos` stack profile: own ports, own data):
// killing the shared test stack's servers would break the suites running beside it.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPurchasePackageReader, readPage } from '../../runtime/core/cache/reader.ts';
import type { PackageEntry } from '../../runtime/core/cache/types.ts';
import { newId } from '../../runtime/core/ids.ts';
import { transactionProbe } from '../support/kafka-transactions.ts';
import { privateStack, type StackComponent } from '../support/private-stack.ts';
import { type ApiResponse, apiClient } from './api-client.ts';
import { eventually, type Pipeline, runTool, type ServiceProcess, startPipeline } from './harness.ts';

const stack = privateStack('chaos', ['mariadb', 'redis', 'kafka']);

/** Every service answers /readyz 200 again within this long after the killed component is back. */
const READY_BOUND_MS = 60_000;
/**
 * How long the producer stays dead after being killed with a transaction open: longer than the
 * broker takes to abort it (the producer's transaction timeout, TRANSACTION_TIMEOUT_MS = 15 s, plus the
 * broker's expiry sweep, `transaction.abort.timed.out.transaction.cleanup.interval.ms`, 10 s): the
 * restart finds it aborted.
 */
const PRODUCER_DOWN_MS = 40_000;
/** A write the api does not answer 2xx/4xx for within this long (retrying) counts as lost. */
const WRITE_DEADLINE_MS = 120_000;
const USERS = 4;
/** The load's bounds: chains per user, its whole duration, and the pause between a user's chains. */
const MAX_CHAINS_PER_USER = 2000;
const LOAD_MAX_MS = 15 * 60_000;
const CHAIN_PAUSE_MS = 250;

type Ack = { user: string; purchaseId: string; paymentId: string; status: string };

/** Each distinct line once, with how often it occurred. */
const distinct = (lines: string[]) => {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => (n > 1 ? `${l} (×${n})` : l));
};

describe('chaos: kill -9 of every component under load (private MariaDB, Redis, Kafka)', () => {
  let env: Record<string, string> = {};
  let p: Pipeline | undefined;
  let stackUp = false;
  const acks = new Map<string, Ack>();
  const stats = { chains: 0, refunds: 0, retries: 0, unavailable: 0, connectionErrors: 0, sqlChanges: 0 };
  /** Answers a client must never get: 5xx other than 503, a 503 without Retry-After or error shape. */
  const unexpected: string[] = [];
  /** Writes that never got a final answer within WRITE_DEADLINE_MS. */
  const gaveUp: string[] = [];
  const figures: Record<string, number> = {};
  let load: { stop: () => Promise<void> } | undefined;
  /** Set by afterAll: writes still retrying give up at once (the run is over). */
  let abandoned = false;

  const pipeline = () => {
    if (!p) throw new Error('the pipeline did not start');
    return p;
  };
  const services = () => [pipeline().producer, pipeline().consumer, pipeline().api];

  beforeAll(async () => {
    stackUp = true; // before `up`: a half-started stack is stopped too
    await stack.run('up');
    env = stack.env();
    p = await startPipeline({
      stack: env,
      ports: {
        api: Number(env.API_PORT),
        apiOps: Number(env.API_OPS_PORT),
        producer: Number(env.PRODUCER_METRICS_PORT),
        consumer: Number(env.CONSUMER_METRICS_PORT),
      },
      logLevel: 'info',
      producerEnv: { PRODUCER_TABLES: 'packages,purchases,payments' },
      // Faster rejoin of a restarted consumer (the dead member's session expires sooner).
      consumerEnv: { CONSUMER_SESSION_TIMEOUT_MS: '6000' },
      // A confirm cut off by a kill is settled by the recovery sweep within seconds, not minutes.
      apiEnv: {
        PROVIDER_TIMEOUT_MS: '2000',
        PAYMENT_RECOVERY_STALE_AFTER_SECONDS: '6',
        PAYMENT_RECOVERY_INTERVAL_MS: '1000',
      },
    });
    load = startLoad(pipeline());
    await waitForProgress(10);
  }, 300_000);

  afterAll(async () => {
    try {
      abandoned = true;
      await load?.stop();
      // Bounded: with a server that never came back, stopping must not hang the run.
      await Promise.race([p?.teardown(), sleep(60_000)]).catch(() => undefined);
    } finally {
      // Also after a failure: no server of the suite keeps running (the data directory stays).
      if (stackUp) await stack.run('down');
      if (Object.keys(figures).length) console.log('chaos figures (ms):', JSON.stringify(figures));
    }
  }, 240_000);

  // ---- the load -------------------------------------------------------------------------------

  /** One write retried with the same Idempotency-Key, as a real client would, until a final answer. */
  async function write(what: string, send: () => Promise<ApiResponse>): Promise<ApiResponse | undefined> {
    const deadline = Date.now() + WRITE_DEADLINE_MS;
    for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
      if (abandoned) return undefined;
      if (attempt > 0) {
        stats.retries++;
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2));
      }
      let res: ApiResponse;
      try {
        res = await send();
      } catch {
        stats.connectionErrors++; // api down or restarting, or the request timed out
        continue;
      }
      const error = res.body.error as { type?: string; code?: string } | undefined;
      if (res.status === 503) {
        stats.unavailable++;
        if (!res.headers.get('retry-after') || !error?.type || !error.code)
          unexpected.push(
            `${what.replace(/^\S+ /, '')}: 503 without Retry-After or error shape: ${JSON.stringify(res.body)}`,
          );
        continue;
      }
      if (res.status >= 500) {
        // Without the chain's tag: the same failure of many requests reads as one line.
        unexpected.push(`${what.replace(/^\S+ /, '')}: ${res.status} ${JSON.stringify(res.body)}`);
        continue;
      }
      // The first request with this key is still running (or was cut off and awaits the recovery).
      if (res.status === 409 && error?.code === 'idempotency_key_in_use') continue;
      return res;
    }
    gaveUp.push(what);
    return undefined;
  }

  function startLoad(pl: Pipeline) {
    const api = apiClient(pl.apiUrl, { secret: env.AUTH_JWT_SECRET ?? '', timeoutMs: 10_000 });
    const packages = ['pkg_starter', 'pkg_plus', 'pkg_pro', 'pkg_yen'];
    let running = true;
    const loadEnds = Date.now() + LOAD_MAX_MS;

    const chain = async (user: string, n: number) => {
      const tag = `${user}.${n}`; // also the Idempotency-Keys' stem: letters, digits, _ . : -
      const created = await write(`${tag} create`, () =>
        api.createPurchase(user, packages[n % packages.length] as string, `${tag}-create`),
      );
      if (!created) return;
      if (created.status !== 201) {
        unexpected.push(`${tag} create: ${created.status} ${JSON.stringify(created.body)}`);
        return;
      }
      const payment = created.body.payment as { id: string; status: string };
      const ack: Ack = {
        user,
        purchaseId: (created.body.purchase as { id: string }).id,
        paymentId: payment.id,
        status: payment.status,
      };
      acks.set(ack.paymentId, ack);

      const confirmed = await write(`${tag} confirm`, () =>
        api.confirm(user, ack.paymentId, 'pm_card_ok', `${tag}-confirm`),
      );
      if (!confirmed) return;
      if (confirmed.status !== 200) {
        unexpected.push(`${tag} confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
        return;
      }
      // succeeded, or failed when the api was killed between charge and answer (the recovery settles it).
      ack.status = (confirmed.body.payment as { status: string }).status;

      if (n % 2 === 0 && ack.status === 'succeeded') {
        const refunded = await write(`${tag} refund`, () => api.refund(user, ack.paymentId, `${tag}-refund`));
        if (!refunded) return;
        if (refunded.status !== 200) {
          unexpected.push(`${tag} refund: ${refunded.status} ${JSON.stringify(refunded.body)}`);
          return;
        }
        ack.status = (refunded.body.payment as { status: string }).status;
        stats.refunds++;
      }
      stats.chains++;
    };

    const user = async (i: number) => {
      for (let n = 0; running && n < MAX_CHAINS_PER_USER && Date.now() < loadEnds; n++) {
        await chain(`u_chaos_${i}`, n);
        await sleep(CHAIN_PAUSE_MS);
      }
    };

    // Direct SQL, beside the api: catalog edits and rows of users the api never writes for. Failures
    // while MariaDB is down are skipped; the tables, read at the end by the checker, are the truth.
    const sql = async () => {
      const sqlRows: Array<{ purchase: string; payment: string }> = [];
      for (let n = 0; running && n < 20_000 && Date.now() < loadEnds; n++) {
        const db = pl.db.admin;
        try {
          const r = n % 4;
          if (r === 0) {
            await db.query('UPDATE packages SET name = ? WHERE id = ?', [`Plus ${n}`, 'pkg_plus']);
          } else if (r === 1 || sqlRows.length < 3) {
            const row = { purchase: newId('pur'), payment: newId('pay') };
            const conn = await db.getConnection();
            try {
              await conn.beginTransaction();
              await conn.query(
                `INSERT INTO purchases (id, user_id, package_id, amount, currency) VALUES (?, ?, 'pkg_pro', 6999, 'EUR')`,
                [row.purchase, `u_sql_${n % 3}`],
              );
              await conn.query(
                `INSERT INTO payments (id, purchase_id, user_id, amount, currency, status, provider)
                 VALUES (?, ?, ?, 6999, 'EUR', 'pending', 'sql')`,
                [row.payment, row.purchase, `u_sql_${n % 3}`],
              );
              await conn.commit();
            } finally {
              conn.release();
            }
            sqlRows.push(row);
          } else if (r === 2) {
            const row = sqlRows[n % sqlRows.length];
            await db.query('UPDATE payments SET status = ? WHERE id = ?', [
              ['processing', 'succeeded', 'failed', 'refunded'][n % 4],
              row?.payment,
            ]);
          } else {
            const [row] = sqlRows.splice(n % sqlRows.length, 1);
            const conn = await db.getConnection();
            try {
              await conn.beginTransaction();
              await conn.query('DELETE FROM payments WHERE id = ?', [row?.payment]);
              await conn.query('DELETE FROM purchases WHERE id = ?', [row?.purchase]);
              await conn.commit();
            } finally {
              conn.release();
            }
          }
          stats.sqlChanges++;
        } catch {
          await sleep(500);
        }
        await sleep(100);
      }
    };

    const workers = Promise.all([...Array.from({ length: USERS }, (_, i) => user(i)), sql()]);
    return {
      async stop() {
        running = false;
        await workers;
      },
    };
  }

  /** Waits until the load completed `n` more purchase chains (it runs under every kill). */
  async function waitForProgress(n: number) {
    const from = stats.chains;
    await eventually(
      `${n} more purchase chains`,
      async () => ({ ...stats, unexpected: unexpected.slice(-3), gaveUp: gaveUp.slice(-3) }),
      (c) => c.chains >= from + n,
      120_000,
    );
  }

  // ---- kills and restarts ----------------------------------------------------------------------

  /** Every service still the same process (nothing exited by itself) and /readyz 200 within the bound. */
  async function expectAllBack(
    phase: string,
    restarted: ServiceProcess | null,
    pidsBefore: Map<string, number>,
  ) {
    const started = Date.now();
    for (const s of services()) {
      expect(s.running, `${phase}: ${s.name} exited by itself (nothing restarts it)`).toBe(true);
      if (s !== restarted)
        expect(s.pid, `${phase}: ${s.name} is not the process it was`).toBe(pidsBefore.get(s.name));
    }
    await Promise.all(
      services().map(async (s) => {
        await eventually(
          `${phase}: ${s.name} /readyz 200 (bound ${READY_BOUND_MS} ms)`,
          async () => ({ ready: await s.ready(), running: s.running }),
          (r) => r.ready || !r.running,
          READY_BOUND_MS,
        );
        expect(s.running, `${phase}: ${s.name} exited by itself while coming back`).toBe(true);
      }),
    );
    figures[`${phase}: all ready after`] = Date.now() - started;
  }

  const pidsNow = () => new Map(services().map((s) => [s.name, s.pid ?? -1]));

  /**
   * Before a phase: a service an earlier phase left exited (that phase failed for it) is started again,
   * so each phase tests its own kill; a service that cannot even be started fails this phase too.
   */
  async function supervise() {
    for (const s of services()) {
      if (s.running) continue;
      await s.start(READY_BOUND_MS).catch((err: unknown) => {
        throw new Error(`${s.name} had exited in an earlier phase and does not start again: ${err}`);
      });
    }
  }

  /** kill -9 of one of the stack's servers, then its start script, as a supervisor would. */
  async function killServer(component: StackComponent, downMs: number) {
    const pid = stack.pid(component);
    process.kill(pid, 'SIGKILL');
    await eventually(
      `${component} (pid ${pid}) gone`,
      async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      (gone) => gone,
      10_000,
    );
    await sleep(downMs);
    const started = Date.now();
    await stack.run('start', component);
    figures[`${component}: start after kill -9`] = Date.now() - started;
  }

  /** A service killed and restarted by the supervisor; the others must ride it out. */
  async function killService(s: ServiceProcess, downMs = 1000) {
    await supervise();
    const before = pidsNow();
    await s.crash();
    await sleep(downMs);
    const started = Date.now();
    await s.start(READY_BOUND_MS);
    figures[`${s.name}: ready after restart`] = Date.now() - started;
    await expectAllBack(`${s.name} killed`, s, before);
  }

  it('producer killed with a Kafka transaction open, restarted after the broker aborted it', async () => {
    const pl = pipeline();
    const before = pidsNow();
    const probe = transactionProbe((env.KAFKA_BROKERS ?? '').split(','), pl.prefix);
    // Small transactions back to back (over every catalog row) keep the producer inside a Kafka
    // transaction most of the time, at a rate it keeps up with: its batches stay small.
    const catalog = ['pkg_starter', 'pkg_plus', 'pkg_pro', 'pkg_yen'];
    let bursting = true;
    const burst = (async () => {
      for (let i = 0; bursting && i < 10_000; i++) {
        await pl.db.admin.query('UPDATE packages SET description = ? WHERE id = ?', [
          `burst ${i}`,
          catalog[i % catalog.length],
        ]);
        await sleep(10);
      }
    })();
    let open: string[] = [];
    let killedAt = 0;
    try {
      await probe.openPartitions(); // topic metadata, once
      // Frozen (SIGSTOP) first, so what the probe sees is the state the kill leaves: records of a
      // transaction in the log and no commit coming. One commit already sent completes on the broker
      // (then the marker arrives within moments): only a transaction still open a second later counts.
      const deadline = Date.now() + 60_000;
      for (let attempt = 0; attempt < 500 && Date.now() < deadline; attempt++) {
        const pid = pl.producer.pid as number;
        process.kill(pid, 'SIGSTOP');
        let seen: string[] = [];
        try {
          seen = await probe.openPartitions();
        } finally {
          if (seen.length === 0) process.kill(pid, 'SIGCONT');
        }
        if (seen.length > 0) {
          await pl.producer.crash(); // SIGKILL ends a stopped process too
          killedAt = Date.now();
          await sleep(1000);
          open = await probe.openPartitions();
          figures['producer: attempts until killed inside a transaction'] = attempt + 1;
          if (open.length > 0) break;
          // It was committing: an immediate restart (which the crash suite covers), then again.
          await pl.producer.start(READY_BOUND_MS);
        }
        await sleep(10 + Math.random() * 40);
      }
      expect(open, 'killed the producer with a Kafka transaction open').not.toEqual([]);
      // The broker aborts it by itself (no producer with that transactional id is alive).
      await eventually(
        'the broker aborted the open transaction',
        () => probe.openPartitions(),
        (o) => o.length === 0,
        PRODUCER_DOWN_MS,
      );
      figures['producer: broker aborted the open transaction after'] = Date.now() - killedAt;
    } finally {
      bursting = false;
      await burst.catch(() => undefined);
      await probe.close().catch(() => undefined);
    }
    await sleep(Math.max(0, PRODUCER_DOWN_MS - (Date.now() - killedAt)));

    const started = Date.now();
    await pl.producer.start(READY_BOUND_MS);
    figures['producer: ready after restart'] = Date.now() - started;
    await expectAllBack('producer killed (transaction open)', pl.producer, before);
    await waitForProgress(5);
  }, 240_000);

  it('consumer killed and restarted', async () => {
    await killService(pipeline().consumer);
    await waitForProgress(5);
  }, 180_000);

  it('api killed and restarted; clients retry with the same Idempotency-Key', async () => {
    await killService(pipeline().api);
    await waitForProgress(5);
  }, 180_000);

  for (const [component, downMs] of [
    ['mariadb', 3000],
    ['redis', 3000],
    ['kafka', 3000],
  ] as const) {
    it(`${component} killed and restarted; the services come back by themselves`, async () => {
      await supervise();
      const before = pidsNow();
      await killServer(component, downMs);
      await expectAllBack(`${component} killed`, null, before);
      await waitForProgress(5);
    }, 240_000);
  }

  it('ends with Redis equal to MySQL and every acknowledged write in both', async () => {
    const pl = pipeline();
    await supervise(); // what the phases left exited (they failed for it): the data must hold anyway
    await load?.stop();
    load = undefined;
    // Soft: each of these is its own finding; the checks after them still run.
    expect.soft(gaveUp, 'writes with no final answer').toEqual([]);
    expect.soft(distinct(unexpected), 'answers a client must never get').toEqual([]);
    expect.soft(stats.chains).toBeGreaterThanOrEqual(40);
    expect.soft(stats.refunds).toBeGreaterThan(5);
    expect.soft(stats.sqlChanges).toBeGreaterThan(20);
    // The load did run into the outages (and retried through them).
    expect.soft(stats.retries).toBeGreaterThan(0);

    const started = Date.now();
    const verified = await runTool('runtime/consumer/verify-main.ts', {
      ...pl.toolEnv,
      VERIFY_WAIT_SECONDS: '90',
    });
    figures['verify: consistent after'] = Date.now() - started;
    expect.soft(verified.output).toContain('verify: Redis equals MySQL');
    expect.soft(verified.code, verified.output).toBe(0);

    // MySQL: every acknowledged purchase, with the status of its last 2xx answer.
    const [rows] = (await pl.db.admin.query(
      'SELECT pay.id, pay.status, pur.id AS purchase_id, pur.user_id FROM payments pay JOIN purchases pur ON pur.id = pay.purchase_id WHERE pay.id IN (?)',
      [[...acks.keys()]],
    )) as unknown as [Array<{ id: string; status: string; purchase_id: string; user_id: string }>];
    const inMysql = new Map(rows.map((r) => [r.id, r]));
    const wrongInMysql = [...acks.values()].filter((a) => {
      const r = inMysql.get(a.paymentId);
      return r?.status !== a.status || r.purchase_id !== a.purchaseId || r.user_id !== a.user;
    });
    expect
      .soft(
        wrongInMysql.map(
          (a) => `${a.paymentId}: acknowledged ${a.status}, MySQL ${inMysql.get(a.paymentId)?.status}`,
        ),
      )
      .toEqual([]);

    // Redis: the same, read as the api reads it.
    const redis = new Redis(env.REDIS_URL ?? '', { maxRetriesPerRequest: 2 });
    try {
      const reader = new RedisPurchasePackageReader(redis, pl.prefix);
      const inRedis = new Map<string, PackageEntry>();
      for (const user of new Set([...acks.values()].map((a) => a.user))) {
        let cursor: string | null = null;
        for (let page = 0; page < 100; page++) {
          const read = await readPage(reader, user, { limit: 100, cursor, token: null });
          expect(read.kind, `Redis holds ${user}'s purchases`).toBe('hit');
          if (read.kind !== 'hit') break;
          for (const e of read.page.items) inRedis.set(e.purchase_id, e);
          cursor = read.page.next_cursor;
          if (!cursor) break;
        }
      }
      const wrongInRedis = [...acks.values()].filter((a) => {
        const e = inRedis.get(a.purchaseId);
        return e?.payment?.id !== a.paymentId || e.payment.status !== a.status;
      });
      expect
        .soft(
          wrongInRedis.map(
            (a) =>
              `${a.purchaseId}: acknowledged ${a.status}, Redis ${inRedis.get(a.purchaseId)?.payment?.status}`,
          ),
        )
        .toEqual([]);
    } finally {
      redis.disconnect();
    }
    console.log('chaos load:', JSON.stringify({ acknowledged: acks.size, ...stats }));
  }, 240_000);
});
