/**
 * CPU per request of each process in the benchmark: the target, Redis and the load generator, from
 * /proc (Linux; Redis on this machine). Steadier than req/s on a shared box, and it shows where a
 * request's time goes. Usage: node bench/api/cpu-budget.ts [mode=app-redis] [seconds=8]
 * (modes of bench/api/server.ts; fastify-bare gets a 6,553-byte constant, the route's page size).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { measure, startTarget, stopTarget } from './run.ts';
import { need, withBenchData } from './stack.ts';

const mode = process.argv[2] ?? 'app-redis';
const seconds = Number(process.argv[3] ?? '8');
const TICKS_PER_SECOND = 100;

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

await withBenchData(20, async (data) => {
  const redis = new Redis(need('REDIS_URL'));
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  await redis.quit();
  const headers = { authorization: `Bearer ${data.token}` };
  const { port, child } = await startTarget(mode, { ...data.env, BENCH_BODY_BYTES: '6553' });
  try {
    const pids = { target: child.pid ?? 0, redis: redisPid, 'load generator': process.pid };
    const before = Object.entries(pids).map(([name, pid]) => ({ name, pid, ticks: cpuTicks(pid) }));
    const started = Date.now();
    // measure() warms up for 2 s first; the CPU and the wall time both include it.
    const r = await measure(mode, `http://127.0.0.1:${port}${data.path}`, {
      connections: 64,
      seconds,
      headers,
    });
    const wall = (Date.now() - started) / 1000;
    const served = r.rps * wall; // approximately: the warm-up runs at the same rate
    console.log(`${mode}: ${r.rps} req/s, p99 ${r.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
    for (const p of before) {
      const cpu = (cpuTicks(p.pid) - p.ticks) / TICKS_PER_SECOND;
      console.log(
        `  ${p.name.padEnd(15)} ${(cpu / wall).toFixed(2)} cores  ${((cpu * 1e6) / served).toFixed(0)} µs/request`,
      );
    }
  } finally {
    await stopTarget(child);
  }
});
