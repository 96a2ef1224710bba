import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTlsRedisProcess } from '../../test/support/redis-process.ts';
import { benchTarget, type Measurement, table } from '../api/run.ts';
import { withBenchData } from '../api/stack.ts';

const seconds = Number(process.argv[2] ?? '8');
const connections = Number(process.argv[3] ?? '64');
const pki = mkdtempSync(join(tmpdir(), 'bench-redis-tls-'));
const server = await startTlsRedisProcess(pki);
const tlsPort = server.tlsPort;
// The bench data goes to this server (the stack env does not override what is set).
process.env.REDIS_URL = `redis://127.0.0.1:${server.port}`;
try {
  await withBenchData(20, async (data) => {
    const headers = { authorization: `Bearer ${data.token}` };
    const plain = data.env;
    const tls = {
      ...data.env,
      REDIS_URL: `rediss://127.0.0.1:${tlsPort}`,
      REDIS_TLS_CA_FILE: `${pki}/ca.crt`,
    };
    const opts = (env: Record<string, string>) => ({ env, connections, seconds, headers });
    const rows: Measurement[] = [];
    const ratios: Record<string, number[]> = { direct: [], near: [] };
    for (let round = 1; round <= 2; round++) {
      for (const [mode, key] of [
        ['app-redis-direct', 'direct'],
        ['app-redis', 'near'],
      ] as const) {
        const label = key === 'direct' ? 'near cache off' : 'near cache on';
        const p = await benchTarget(`${label}, plaintext (round ${round})`, mode, data.path, opts(plain));
        const t = await benchTarget(`${label}, TLS (round ${round})`, mode, data.path, opts(tls));
        rows.push(p, t);
        ratios[key]?.push(t.rps / p.rps);
      }
    }
    console.log(`\n${connections} connections, ${seconds} s each, node ${process.version}\n`);
    console.log(table(rows));
    const range = (xs: number[] = []) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    console.log(
      `\nTLS / plaintext req/s: near cache off ${range(ratios.direct)}, near cache on ${range(ratios.near)}`,
    );
    if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
      console.error('some requests failed: the figures are not valid');
      process.exitCode = 1;
    }
  });
} finally {
  await server.stop();
  rmSync(pki, { recursive: true, force: true });
}
