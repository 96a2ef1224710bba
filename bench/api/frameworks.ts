/**
 * fastify vs express on the purchase-package route: the same handler (JWT check + Redis reader) and
 * the same Redis data, plus each framework's bare constant route for scale.
 * Usage: node bench/api/frameworks.ts [seconds=8] [connections=64]
 */
import { benchTarget, type Measurement, table } from './run.ts';
import { withBenchData } from './stack.ts';

const seconds = Number(process.argv[2] ?? '8');
const connections = Number(process.argv[3] ?? '64');

await withBenchData(20, async (data) => {
  const opts = {
    env: { ...data.env, BENCH_BODY_BYTES: '6000' },
    connections,
    seconds,
    headers: { authorization: `Bearer ${data.token}` },
  };
  const rows: Measurement[] = [];
  for (const [name, mode] of [
    ['fastify: purchase-package handler', 'fastify-route'],
    ['express: purchase-package handler', 'express-route'],
    ['fastify: bare constant', 'fastify-bare'],
    ['express: bare constant', 'express-bare'],
  ] as const) {
    rows.push(await benchTarget(name, mode, data.path, opts));
  }
  const [f, e] = rows as [Measurement, Measurement];
  console.log(`\n${connections} connections, ${seconds} s each, node ${process.version}\n`);
  console.log(table(rows));
  console.log(`\nfastify / express on the route: ${(f.rps / e.rps).toFixed(2)}x`);
  if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
    console.error('some requests failed: the figures are not valid');
    process.exitCode = 1;
  }
});
