import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackageFromMysql } from '../../runtime/api/package/mysql-reader.ts';
import { redisLease } from '../../runtime/api/rate-limit.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { privateStack } from '../support/private-stack.ts';
import { apiClient } from './api-client.ts';
import { eventually, type Pipeline, runTool, serviceExists, startPipeline } from './harness.ts';

/*
 * The pipeline on a real Redis Cluster (3 masters, 3 replicas, started by dev/stack.sh with
 * REDIS_MODE=cluster on ports of its own): the end-to-end flow, resharding under load and a master
 * killed under load. The api runs with its near cache on, so every check covers it too.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
/** Six nodes from here, their cluster bus 100 above; below 32768 (see dev/lib/profile.sh). */
const BASE = Number(process.env.REDIS_CLUSTER_TEST_PORT ?? 32100);
const DIR = '.local/redis-cluster-test';
const cluster = privateStack('test', ['redis'], {
  dir: DIR,
  env: { REDIS_MODE: 'cluster', REDIS_PORT: String(BASE) },
});
/** How long verify may take to see Redis equal MySQL after a failover (the stated bound). */
const FAILOVER_VERIFY_SECONDS = 60;

type Entry = { purchase_id: string; payment: { id: string; status: string } | null };
type Page = { items?: Entry[]; next_cursor?: string | null };

const cli = async (...args: string[]) => (await run('redis-cli', args, { timeout: 120_000 })).stdout;

describe.runIf(serviceExists('producer') && serviceExists('api'))('pipeline on a Redis Cluster', () => {
  let p: Pipeline;
  let api: ReturnType<typeof apiClient>;
  let up = false;

  beforeAll(async () => {
    up = true;
    // A fresh cluster every run (no persistence: nothing to keep): a topology left by an earlier run's
    // failover (a master without its replica) would change what the tests exercise.
    await cluster.run('down');
    rmSync(`${ROOT}/${DIR}/redis-cluster`, { recursive: true, force: true });
    await cluster.run('up');
    const env = cluster.env();
    expect(env.REDIS_MODE).toBe('cluster');
    const stack = Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
    );
    p = await startPipeline({
      stack: { ...stack, REDIS_URL: env.REDIS_URL as string, REDIS_MODE: 'cluster' },
      // Pages stay in the near cache until an invalidation drops them (the age limit never does here).
      apiEnv: { PACKAGE_NEAR_CACHE_BYTES: String(16 * 1024 ** 2), PACKAGE_NEAR_CACHE_MAX_AGE_MS: '600000' },
      consumerEnv: { CONSUMER_SESSION_TIMEOUT_MS: '6000' },
    });
    api = apiClient(p.apiUrl);
  }, 300_000);

  afterAll(async () => {
    await p?.teardown();
    if (up) await cluster.run('down');
  }, 120_000);

  const verify = async (waitSeconds: number) => {
    const started = Date.now();
    const verified = await runTool('runtime/consumer/verify-main.ts', {
      ...p.toolEnv,
      VERIFY_WAIT_SECONDS: String(waitSeconds),
    });
    expect(verified.output).toContain('verify: Redis equals MySQL');
    expect(verified.code).toBe(0);
    return (Date.now() - started) / 1000;
  };

  const page = async (user: string, query = '?limit=100') => {
    const r = await api.purchases(user, query);
    return { status: r.status, source: r.headers.get('x-package-source'), body: r.body as Page };
  };

  /**
   * Purchases, confirms and reads by several users until stopped. Reads served from Redis (the near
   * cache included) must never go back in time: a purchase seen paid (or listed at all) by a read that
   * ended before another began is not shown older by it; that is what a stale page would do. Every
   * response that is not a 2xx (or the 402 of a declined card) is counted.
   */
  const workload = (users: string[]) => {
    const errors: string[] = [];
    const stale: string[] = [];
    const counts = { creates: 0, confirms: 0, reads: 0, redisReads: 0 };
    const seen = new Map<string, Map<string, { rank: number; at: number }>>();
    let running = true;
    // Listed (1), with its pending payment (2), settled (3): a purchase only ever moves up.
    const rank = (e: Entry) => (e.payment === null ? 1 : e.payment.status === 'pending' ? 2 : 3);
    /** What a page from Redis shows: checked against what Redis was known to hold before, then kept. */
    const observe = (user: string, body: Page, startedAt: number, check: boolean) => {
      const mine = seen.get(user) ?? new Map();
      seen.set(user, mine);
      const listed = new Map((body.items ?? []).map((e) => [e.purchase_id, rank(e)]));
      const complete = body.next_cursor === null;
      if (check) {
        for (const [id, was] of mine) {
          const now = listed.get(id) ?? (complete ? 0 : was.rank);
          if (was.at < startedAt && now < was.rank) stale.push(`${user} ${id}: rank ${was.rank} then ${now}`);
        }
      }
      const endedAt = performance.now();
      for (const [id, r2] of listed) {
        const was = mine.get(id);
        if (!was || r2 > was.rank) mine.set(id, { rank: r2, at: endedAt });
      }
    };
    const read = async (user: string) => {
      const startedAt = performance.now();
      const r = await page(user);
      counts.reads++;
      if (r.status !== 200) return void errors.push(`read ${r.status} ${JSON.stringify(r.body)}`);
      if (r.source !== 'redis') return;
      counts.redisReads++;
      observe(user, r.body, startedAt, true);
    };
    const worker = async (n: number) => {
      for (let i = 0; running; i++) {
        const user = users[(n + i) % users.length] as string;
        const created = await api.createPurchase(user, i % 2 ? 'pkg_plus' : 'pkg_pro');
        if (created.status !== 201) {
          errors.push(`create ${created.status} ${JSON.stringify(created.body)}`);
          continue;
        }
        counts.creates++;
        await read(user);
        const payment = (created.body.payment as { id: string }).id;
        const confirmed = await api.confirm(user, payment, i % 5 ? 'pm_card_ok' : 'pm_card_declined');
        counts.confirms++;
        if (![200, 402].includes(confirmed.status))
          errors.push(`confirm ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
        const token = confirmed.body.consistency_token;
        if (typeof token === 'string') {
          const r = await page(user, `?limit=100&consistency_token=${encodeURIComponent(token)}`);
          if (r.status !== 200) errors.push(`token read ${r.status} ${JSON.stringify(r.body)}`);
          const mine = r.body.items?.find((e) => e.payment?.id === payment);
          if (r.status === 200 && r.body.next_cursor === null && mine?.payment?.status === 'pending')
            stale.push(`${user} ${payment}: the token read missed its own confirm`);
          // Answered from Redis: Redis holds the confirm, so no later page may show less (the near
          // cache would, if an invalidation of that user's master were lost).
          if (r.status === 200 && r.source === 'redis') observe(user, r.body, 0, false);
        }
        await read(user);
      }
    };
    const done = Promise.all([0, 1, 2, 3].map(worker));
    return {
      users,
      errors,
      stale,
      counts,
      stop: async () => {
        running = false;
        await done;
      },
    };
  };

  /**
   * Once the consumer caught up, every user's page the api serves (near cache and all) equals MySQL's:
   * a page kept after a change whose invalidation was lost would be served, stale, forever here.
   */
  const servesMysqlPages = async (users: string[]) => {
    const stalePages = async () => {
      const out: string[] = [];
      for (const user of users) {
        const [served, mysql] = await Promise.all([
          page(user),
          readPackageFromMysql(p.db.admin, user, 100, null),
        ]);
        if (JSON.stringify(served.body.items) !== JSON.stringify(mysql.items))
          out.push(`${user} (${served.source})`);
      }
      return out;
    };
    const last = await eventually(
      'every page the api serves equal to MySQL',
      stalePages,
      (s) => s.length === 0,
      30_000,
    ).catch((err: unknown) => err);
    expect(last, String(last)).toEqual([]);
  };

  /** The cluster's own view (CLUSTER NODES of a live node): masters serving slots, with their replicas. */
  const topology = async (exceptPort?: number) => {
    for (let port = BASE; port < BASE + 6; port++) {
      if (port === exceptPort) continue;
      const text = await cli('-p', String(port), 'cluster', 'nodes').catch(() => '');
      if (!text.trim()) continue;
      const lines = text
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
      const portOf = (f: string[]) => Number(f[1]?.split('@')[0]?.split(':')[1]);
      const live = (f: string[]) => !(f[2] ?? '').includes('fail');
      const masters = lines.filter((f) => (f[2] ?? '').includes('master') && live(f) && f.length > 8);
      return masters.map((m) => ({
        port: portOf(m),
        replicas: lines.filter((f) => f[3] === m[0] && live(f)).length,
      }));
    }
    throw new Error('no cluster node answers');
  };
  const masterPorts = async () => (await topology()).map((m) => m.port).sort();
  const keysOn = async (port: number) =>
    (await cli('-p', String(port), '--scan', '--pattern', `${p.prefix}:*`)).split('\n').filter(Boolean)
      .length;
  const nodeId = async (port: number) => (await cli('-p', String(port), 'cluster', 'myid')).trim();
  const feedUp = async () => {
    const metrics = await fetch(`http://127.0.0.1:${p.api.port}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    return /^api_package_near_cache_feed_up(\{[^}]*\})? 1$/m.test(metrics);
  };

  it('serves purchases from the cluster, follows SQL changes and an owner change, verify clean, keys on every master', async () => {
    await eventually('the near cache feed up on every master', feedUp, (ok) => ok, 30_000);
    const [alice, bob] = ['u_rc_alice', 'u_rc_bob'];
    const created = await api.createPurchase(alice, 'pkg_plus');
    expect(created.status).toBe(201);
    const purchaseId = (created.body.purchase as { id: string }).id;
    const paymentId = (created.body.payment as { id: string }).id;
    const confirmed = await api.confirm(alice, paymentId);
    expect(confirmed.status).toBe(200);
    const token = encodeURIComponent(String(confirmed.body.consistency_token));
    await eventually(
      'paid purchase from the cluster',
      () => page(alice, `?consistency_token=${token}`),
      (r) => r.source === 'redis' && r.body.items?.[0]?.payment?.status === 'succeeded',
    );

    // An owner change in SQL: the purchase and its payment move to bob in one transaction.
    const conn = await p.db.admin.getConnection();
    try {
      await conn.beginTransaction();
      await conn.query('UPDATE purchases SET user_id = ? WHERE id = ?', [bob, purchaseId]);
      await conn.query('UPDATE payments SET user_id = ? WHERE purchase_id = ?', [bob, purchaseId]);
      await conn.commit();
    } finally {
      conn.release();
    }
    await eventually(
      'the purchase listed for its new owner',
      () => page(bob),
      (r) => r.source === 'redis' && r.body.items?.[0]?.payment?.status === 'succeeded',
    );
    await eventually(
      'and no longer for the old one',
      () => page(alice),
      (r) => r.source === 'redis' && r.body.items?.length === 0,
    );
    await p.db.admin.query("UPDATE payments SET status = 'refunded' WHERE id = ?", [paymentId]);
    await eventually(
      'a refund done in SQL',
      () => page(bob),
      (r) => r.source === 'redis' && r.body.items?.[0]?.payment?.status === 'refunded',
    );

    const load = workload(Array.from({ length: 24 }, (_, i) => `u_rc_${i}`));
    await new Promise((r) => setTimeout(r, 15_000));
    await load.stop();
    expect(load.errors, load.errors.join('\n')).toEqual([]);
    expect(load.stale, load.stale.join('\n')).toEqual([]);
    expect(load.counts.creates).toBeGreaterThan(20);
    await servesMysqlPages(load.users);
    await verify(60);
    const ports = await masterPorts();
    expect(ports).toHaveLength(3);
    for (const port of ports) expect(await keysOn(port), `keys on the master at ${port}`).toBeGreaterThan(0);
    // The rate limiter's user and IP counters sit in different slots: leased one call each.
    const keys = cacheKeys(p.prefix);
    const lease = redisLease(p.redis);
    expect(
      await lease([
        { key: keys.rate('user', alice), want: 3, limit: 5 },
        { key: keys.rate('ip', '192.0.2.1'), want: 3, limit: 2 },
      ]),
    ).toEqual([3, 2]);
  });

  it('reshards slots between masters under load without a client-visible error or a stale page', async () => {
    const [from, to] = (await masterPorts()) as [number, number];
    const before = { from: await keysOn(from), to: await keysOn(to) };
    const load = workload(Array.from({ length: 24 }, (_, i) => `u_rs_${i}`));
    await new Promise((r) => setTimeout(r, 2000));
    // Moves 2000 slots with their keys (MIGRATE), slot by slot, while the workload runs.
    await cli(
      '--cluster',
      'reshard',
      `127.0.0.1:${from}`,
      '--cluster-from',
      await nodeId(from),
      '--cluster-to',
      await nodeId(to),
      '--cluster-slots',
      '2000',
      '--cluster-yes',
    );
    await new Promise((r) => setTimeout(r, 2000));
    await load.stop();
    expect(load.errors, load.errors.join('\n')).toEqual([]);
    expect(load.stale, load.stale.join('\n')).toEqual([]);
    expect(load.counts.redisReads).toBeGreaterThan(20);
    const after = { from: await keysOn(from), to: await keysOn(to) };
    expect(after.to - before.to, 'keys moved to the target master').toBeGreaterThan(0);
    await servesMysqlPages(load.users);
    await verify(60);
  });

  it('notices a flush of one master (its slots’ ready markers gone) and rebuilds: reads go to MySQL meanwhile', async () => {
    const users = Array.from({ length: 24 }, (_, i) => `u_rc_${i}`);
    const [victim] = (await masterPorts()) as [number];
    await cli('-p', String(victim), 'flushall');
    // Users on that master are answered from MySQL (their slot has no marker), never an empty page.
    const onVictim: string[] = [];
    for (const user of users) {
      const r = await page(user);
      expect(r.status).toBe(200);
      if (r.source === 'mysql_miss') onVictim.push(user);
    }
    expect(onVictim.length).toBeGreaterThan(0);
    expect(onVictim.length).toBeLessThan(users.length);
    // The consumer's guard checks every slot's marker and rebuilds; then Redis answers them again.
    await eventually(
      'the flushed master rebuilt',
      async () => (await Promise.all(onVictim.map((u) => page(u)))).every((r) => r.source === 'redis'),
      (ok) => ok,
      60_000,
    );
    await servesMysqlPages(users);
    await verify(30);
  });

  it('loses nothing when a master is killed under load: its replica takes over, verify clean within the bound', async () => {
    // A master with a replica to take over.
    const victim = (await topology()).find((m) => m.replicas > 0)?.port as number;
    expect(victim).toBeDefined();
    const pid = Number(readFileSync(`${ROOT}/${DIR}/run/redis-${victim}.pid`, 'utf8').trim());
    const load = workload(Array.from({ length: 24 }, (_, i) => `u_fo_${i}`));
    await new Promise((r) => setTimeout(r, 3000));
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    // The replica is promoted (node timeout 2 s, then the election) and the feed follows it.
    const servingMasters = async () => (await topology(victim)).filter((m) => m.port !== victim).length;
    await eventually(
      'a replica promoted in place of the killed master',
      servingMasters,
      (n) => n === 3,
      30_000,
    );
    await eventually('the near cache feed back on every master', feedUp, (ok) => ok, 30_000);
    const recoveredS = (Date.now() - killedAt) / 1000;
    await new Promise((r) => setTimeout(r, 3000));
    await load.stop();
    // Reads during the takeover may be answered 503 (never 500); writes go to MySQL and never fail.
    const unexpected = load.errors.filter((e) => !/^(read|token read) 503 /.test(e));
    expect(unexpected, unexpected.join('\n')).toEqual([]);
    expect(load.stale, load.stale.join('\n')).toEqual([]);
    await servesMysqlPages(load.users);
    const verifiedS = await verify(FAILOVER_VERIFY_SECONDS);
    expect(verifiedS).toBeLessThan(FAILOVER_VERIFY_SECONDS + 30);
    console.info(
      `failover: feed back ${recoveredS.toFixed(1)} s after the kill, verify clean after ${verifiedS.toFixed(1)} s, ` +
        `${load.errors.length} reads answered 503 of ${load.counts.reads}`,
    );
    // The killed node comes back as a replica of the promoted one.
    await cluster.run('up');
  });
});
