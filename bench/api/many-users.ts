/**
 * The purchase-package route when many users are read, not one: each request asks for a random
 * user's page (uniform over N users, an admin token), against the near cache holding every user,
 * holding a quarter of them, and off (every read a Redis round trip), with (a) a bare fastify route
 * of the average page size and (b) the MySQL-answered route, in one run.
 * Usage: node bench/api/many-users.ts [users=2000] [purchases=3] [seconds=10] [connections=64]
 * Needs the test stack; uses its own database and Redis prefix.
 */
import { benchTarget, type Measurement, startTarget, stopTarget, table } from './run.ts';
import { responseBytes, withBenchData } from './stack.ts';

const users = Number(process.argv[2] ?? '2000');
const purchases = Number(process.argv[3] ?? '3');
const seconds = Number(process.argv[4] ?? '10');
const connections = Number(process.argv[5] ?? '64');

await withBenchData(
  purchases,
  async (data) => {
    const { mintToken } = await import('../../test/support/jwt.ts');
    const admin = await mintToken('bench_admin', { scope: 'admin', expiresIn: '1h' });
    const headers = { authorization: `Bearer ${admin}` };
    const paths = data.userIds.map((u) => `/v1/users/${u}/purchases`);
    // Page size: the average over a sample, for the bare route's constant and the cache sizes.
    const probe = await startTarget('app-redis', data.env);
    let bytes = 0;
    try {
      const sample = paths.slice(0, 50);
      for (const p of sample) bytes += await responseBytes(`http://127.0.0.1:${probe.port}${p}`, admin);
      bytes = Math.round(bytes / sample.length);
    } finally {
      await stopTarget(probe.child);
    }
    // Per held page: the body plus the near cache's bookkeeping (near-cache.ts), with some slack.
    const perUser = bytes + 400;
    const opts = (nearCacheBytes: number) => ({
      env: { ...data.env, BENCH_BODY_BYTES: String(bytes), BENCH_NEAR_CACHE_BYTES: String(nearCacheBytes) },
      connections,
      seconds,
      headers,
      paths,
    });
    const rows: Measurement[] = [];
    rows.push(
      await benchTarget(
        'api, near cache holds every user',
        'app-redis',
        paths[0] ?? '',
        opts(users * perUser * 2),
      ),
    );
    rows.push(
      await benchTarget(
        'api, near cache holds 1/4 of the users',
        'app-redis',
        paths[0] ?? '',
        opts(Math.round((users * perUser) / 4)),
      ),
    );
    rows.push(await benchTarget('api, near cache off', 'app-redis-direct', paths[0] ?? '', opts(0)));
    rows.push(
      await benchTarget('(a) bare fastify route, constant body', 'fastify-bare', paths[0] ?? '', opts(0)),
    );
    rows.push(await benchTarget('(b) api, MySQL fallback only', 'app-mysql', paths[0] ?? '', opts(0)));
    const [all, quarter, off, bare, mysql] = rows as [
      Measurement,
      Measurement,
      Measurement,
      Measurement,
      Measurement,
    ];
    console.log(
      `\n${users} users x ${purchases} purchases, uniform random reads, ${connections} connections, ${seconds} s each, ${bytes}-byte average page, node ${process.version}\n`,
    );
    console.log(table(rows));
    for (const [name, r] of [
      ['near cache holds all', all],
      ['near cache holds 1/4', quarter],
      ['near cache off', off],
    ] as const) {
      console.log(
        `${name}: ${(r.rps / bare.rps).toFixed(2)} of (a), ${(r.rps / mysql.rps).toFixed(2)}x (b), p99 ${r.p99} ms`,
      );
    }
    if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
      console.error('some requests failed: the figures are not valid');
      process.exitCode = 1;
    }
  },
  users,
);
