/**
 * The purchase-package route under load, in one run: the real api answering from Redis, against
 * (a) a bare fastify route returning a constant of the same size and (b) the same api answering
 * from MySQL. Usage: node bench/api/package-route.ts [seconds=10] [connections=64]
 * Needs the test stack (STACK_NAME=test dev/stack.sh up); uses its own database and Redis prefix.
 */
import { benchTarget, type Measurement, startTarget, stopTarget, table } from './run.ts';
import { responseBytes, withBenchData } from './stack.ts';

const seconds = Number(process.argv[2] ?? '10');
const connections = Number(process.argv[3] ?? '64');
const purchases = Number(process.argv[4] ?? '20');

await withBenchData(purchases, async (data) => {
  const headers = { authorization: `Bearer ${data.token}` };
  const probe = await startTarget('app-redis', data.env);
  let bytes: number;
  try {
    bytes = await responseBytes(`http://127.0.0.1:${probe.port}${data.path}`, data.token);
  } finally {
    await stopTarget(probe.child);
  }
  const opts = { env: { ...data.env, BENCH_BODY_BYTES: String(bytes) }, connections, seconds, headers };
  const rows: Measurement[] = [];
  rows.push(await benchTarget('api, Redis (the route)', 'app-redis', data.path, opts));
  rows.push(await benchTarget('api, Redis, near cache off', 'app-redis-direct', data.path, opts));
  rows.push(await benchTarget('(a) bare fastify route, constant body', 'fastify-bare', data.path, opts));
  rows.push(await benchTarget('(b) api, MySQL fallback only', 'app-mysql', data.path, opts));
  const [route, direct, bare, mysql] = rows as [Measurement, Measurement, Measurement, Measurement];

  console.log(
    `\n${connections} connections, ${seconds} s each, ${bytes}-byte body (${purchases} purchases), node ${process.version}\n`,
  );
  console.log(table(rows));
  console.log(`\nthroughput vs (a) bare:  ${(route.rps / bare.rps).toFixed(2)}  (target >= 0.6)`);
  console.log(`throughput vs (b) MySQL: ${(route.rps / mysql.rps).toFixed(2)}x (target >= 5)`);
  console.log(`p99 of the route: ${route.p99} ms (target < 10 ms)`);
  console.log(
    `near cache off: ${(direct.rps / bare.rps).toFixed(2)} of (a), ${(direct.rps / mysql.rps).toFixed(2)}x (b), p99 ${direct.p99} ms`,
  );
  if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
    console.error('some requests failed: the figures are not valid');
    process.exitCode = 1;
  }
});
