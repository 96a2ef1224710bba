import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

type AutocannonResult = {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
};
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export type Measurement = {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
};

/**
 * Starts `bench/api/server.ts <mode>` in its own process; resolves with its port. With
 * BENCH_CPU_PROF=<dir> each target writes a V8 CPU profile there when it stops (`node --cpu-prof`).
 */
export async function startTarget(
  mode: string,
  env: Record<string, string>,
): Promise<{ port: number; child: ChildProcess }> {
  const profile = process.env.BENCH_CPU_PROF;
  const flags = profile
    ? ['--cpu-prof', `--cpu-prof-dir=${profile}`, `--cpu-prof-name=${mode}-${Date.now()}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...flags, 'bench/api/server.ts', mode], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
    lines.on('line', (line) => {
      const m = /^\{"port":(\d+)\}$/.exec(line);
      if (m?.[1]) resolve(Number(m[1]));
    });
  });
  return { port, child };
}

export async function stopTarget(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Warm-up, then one measured autocannon run. */
export async function measure(
  name: string,
  url: string,
  opts: {
    connections: number;
    seconds: number;
    headers: Record<string, string>;
    /** Each request takes one of these paths at random (else the url's). */
    paths?: string[];
  },
): Promise<Measurement> {
  const { paths } = opts;
  const requests = paths
    ? [
        {
          setupRequest: (req: { path: string }) => ({
            ...req,
            path: paths[Math.floor(Math.random() * paths.length)],
          }),
        },
      ]
    : undefined;
  const common = {
    url,
    connections: opts.connections,
    headers: opts.headers,
    ...(requests ? { requests } : {}),
  };
  await autocannon({ ...common, duration: 2 });
  const r = await autocannon({ ...common, duration: opts.seconds });
  return {
    name,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

/** Measures one target mode in a fresh process. */
export async function benchTarget(
  name: string,
  mode: string,
  path: string,
  opts: {
    env: Record<string, string>;
    connections: number;
    seconds: number;
    headers: Record<string, string>;
    paths?: string[];
  },
): Promise<Measurement> {
  const { port, child } = await startTarget(mode, opts.env);
  try {
    return await measure(name, `http://127.0.0.1:${port}${path}`, opts);
  } finally {
    await stopTarget(child);
  }
}

export function table(rows: Measurement[]): string {
  const head = '| target | req/s | p50 ms | p99 ms | non-2xx | errors |\n|---|---:|---:|---:|---:|---:|';
  return [
    head,
    ...rows.map((r) => `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} |`),
  ].join('\n');
}
