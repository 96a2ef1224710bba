/**
 * The read path's three goals in one run, each against the bare fastify route of the same round
 * (a constant body of the same size), with the load average, in alternating rounds so a shared
 * machine's drift hits every target alike:
 *   1. near cache on, one user's page (20 purchases): >= 0.85 of bare, p99 < 10 ms
 *   2. near cache off (every read a Redis round trip), the same page: >= 0.5 of bare
 *   3. near cache off, a random one of N users (3 purchases each) per request: >= 0.6 of bare
 * The near-cache-off targets run twice per round: with the page read on the lean connection (as
 * main.ts wires it) and on ioredis with the Lua script (BENCH_REDIS_CLIENT=ioredis, the old path).
 * Besides req/s, CPU µs per request of the target and of Redis (from /proc): steadier on a loaded box.
 * Usage: node bench/api/read-goals.ts [seconds=8] [rounds=2] [users=2000] [connections=64]
 * Needs the test stack; uses its own database and Redis prefix.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { type Measurement, measure, startTarget, stopTarget } from './run.ts';
import { need, responseBytes, withBenchData } from './stack.ts';

const seconds = Number(process.argv[2] ?? '8');
const rounds = Number(process.argv[3] ?? '2');
const users = Number(process.argv[4] ?? '2000');
const connections = Number(process.argv[5] ?? '64');
const load = () => (loadavg()[0] ?? 0).toFixed(1);

/** utime + stime of a process, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

type Result = Measurement & { targetUs: number; redisUs: number };

await withBenchData(
  3,
  async (data) => {
    const { mintToken } = await import('../../test/support/jwt.ts');
    const admin = await mintToken('bench_admin', { scope: 'admin', expiresIn: '1h' });
    const paths = data.userIds.slice(1).map((u) => `/v1/users/${u}/purchases`);
    const probe = await startTarget('app-redis-direct', data.env);
    let bigBytes: number;
    let smallBytes = 0;
    try {
      const base = `http://127.0.0.1:${probe.port}`;
      bigBytes = await responseBytes(`${base}${data.path}`, data.token);
      const sample = paths.slice(0, 50);
      for (const p of sample) smallBytes += await responseBytes(`${base}${p}`, admin);
      smallBytes = Math.round(smallBytes / sample.length);
    } finally {
      await stopTarget(probe.child);
    }
    const one = (bytes: number) => ({
      env: { ...data.env, BENCH_BODY_BYTES: String(bytes) },
      connections,
      seconds,
      headers: { authorization: `Bearer ${data.token}` },
    });
    const crowd = { ...one(smallBytes), headers: { authorization: `Bearer ${admin}` }, paths };
    console.log(
      `${connections} connections, ${seconds} s per target, ${rounds} rounds; one user: ${bigBytes}-byte page; ` +
        `${paths.length} users: ${smallBytes}-byte average page; node ${process.version}\n`,
    );
    const probe2 = new Redis(need('REDIS_URL'));
    const redisPid = Number(/process_id:(\d+)/.exec(await probe2.info('server'))?.[1]);
    await probe2.quit();
    let failed = false;
    const run = async (
      mode: string,
      o: ReturnType<typeof one> & { paths?: string[] },
      client = 'lean',
    ): Promise<Result> => {
      const { port, child } = await startTarget(mode, { ...o.env, BENCH_REDIS_CLIENT: client });
      try {
        const pid = child.pid ?? 0;
        const t0 = cpuTicks(pid);
        const r0 = cpuTicks(redisPid);
        const started = Date.now();
        const r = await measure(mode, `http://127.0.0.1:${port}${data.path}`, o);
        const wall = (Date.now() - started) / 1000;
        // measure() warms up for 2 s at about the same rate: the CPU and the wall time both include it.
        const served = r.rps * wall;
        if (r.non2xx > 0 || r.errors > 0) failed = true;
        return {
          ...r,
          targetUs: ((cpuTicks(pid) - t0) * 1e4) / served,
          redisUs: ((cpuTicks(redisPid) - r0) * 1e4) / served,
        };
      } finally {
        await stopTarget(child);
      }
    };
    const cell = (r: Result) =>
      `${r.rps} (p99 ${r.p99}; ${r.targetUs.toFixed(0)}+${r.redisUs.toFixed(0)} µs)`;
    const ratio = (a: Result, b: Result) => (a.rps / b.rps).toFixed(2);
    console.log('req/s (p99 ms; CPU µs per request: target + Redis)\n');
    console.log(
      '| round | load | bare, one user | near on | near off | near off, ioredis + script | bare, small page | many users, off | many users, off, ioredis + script | goal 1 on/bare ≥ 0.85 | goal 2 off/bare ≥ 0.5 (old) | goal 3 many/bare ≥ 0.6 (old) |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (let round = 1; round <= rounds; round++) {
      const before = load();
      const bare = await run('fastify-bare', one(bigBytes));
      const on = await run('app-redis', one(bigBytes));
      const off = await run('app-redis-direct', one(bigBytes));
      const offOld = await run('app-redis-direct', one(bigBytes), 'ioredis');
      const bareSmall = await run('fastify-bare', crowd);
      const many = await run('app-redis-direct', crowd);
      const manyOld = await run('app-redis-direct', crowd, 'ioredis');
      console.log(
        `| ${round} | ${before}→${load()} | ${cell(bare)} | ${cell(on)} | ${cell(off)} | ${cell(offOld)} | ` +
          `${cell(bareSmall)} | ${cell(many)} | ${cell(manyOld)} | ${ratio(on, bare)} | ` +
          `${ratio(off, bare)} (${ratio(offOld, bare)}) | ${ratio(many, bareSmall)} (${ratio(manyOld, bareSmall)}) |`,
      );
    }
    if (failed) {
      console.error('some requests failed: the figures are not valid');
      process.exitCode = 1;
    }
  },
  users + 1,
  20,
);
