import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES, installedPaths, type Lock, readManifest } from '../../dev/workspaces.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type ImageConfig, Runc, readImage, unpackedRootfs } from '../support/oci.ts';

// The images `dev/images.sh build` makes (the Dockerfile's targets without Docker), run with runc as a
// node would: the image's command, user and environment, a read-only root filesystem.

type Contract = {
  env: Record<string, string>;
  user?: string;
  workdir?: string;
  expose: string[];
  cmd?: string[];
};

/** What the Dockerfile says a target's image is: ENV, USER, WORKDIR, EXPOSE and CMD along its stages. */
function dockerfileContract(target: string): Contract {
  const stages = new Map<string, { from: string; lines: string[] }>();
  let current: { from: string; lines: string[] } | undefined;
  for (const raw of readFileSync('Dockerfile', 'utf8').split('\n')) {
    const line = raw.trim();
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from?.[1] && from[2]) {
      current = { from: from[1], lines: [] };
      stages.set(from[2], current);
    } else if (current && line && !line.startsWith('#')) current.lines.push(line);
  }
  const chain: string[][] = [];
  for (let s = stages.get(target); s; s = stages.get(s.from)) chain.unshift(s.lines);
  if (chain.length === 0) throw new Error(`no stage ${target} in the Dockerfile`);
  const c: Contract = { env: {}, expose: [] };
  for (const line of chain.flat()) {
    const [op, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    if (op === 'ENV') for (const kv of rest) c.env[kv.split('=')[0] ?? ''] = kv.slice(kv.indexOf('=') + 1);
    if (op === 'USER') c.user = arg;
    if (op === 'WORKDIR') c.workdir = arg;
    if (op === 'EXPOSE') c.expose.push(...rest.map((p) => (p.includes('/') ? p : `${p}/tcp`)));
    if (op === 'CMD') c.cmd = JSON.parse(arg);
  }
  return c;
}

async function freePort(): Promise<number> {
  // Loopback ports below the kernel's ephemeral range (a client's source port can never take them).
  for (;;) {
    const port = 25_000 + Math.floor(Math.random() * 100);
    const free = await new Promise<boolean>((res) => {
      const srv = createServer()
        .once('error', () => res(false))
        .listen(port, '127.0.0.1', () => srv.close(() => res(true)));
    });
    if (free) return port;
  }
}

async function waitFor200(url: string, exited: Promise<number | null>, ms = 60_000): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !gone) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(gone ? `the container exited before ${url} answered` : `${url} did not answer 200`);
}

const work = mkdtempSync(join(resolve('.local'), 'images-test-'));
const runc = new Runc(work);
const id = (name: string) => `${name}-${uniqueSuffix()}`;
let runtime: { config: ImageConfig; rootfs: string };
let operator: { config: ImageConfig; rootfs: string };
let db: TestDatabase;

beforeAll(async () => {
  // First run after a build: ~30 s per image to unpack (kept per digest afterwards).
  const [rt, op] = await Promise.all([unpackedRootfs('runtime'), unpackedRootfs('operator')]);
  runtime = { config: readImage('runtime').config, rootfs: rt };
  operator = { config: readImage('operator').config, rootfs: op };
  db = await createTestDatabase();
}, 300_000);

afterAll(async () => {
  await runc.cleanup();
  const left = await runc.list().catch(() => []);
  rmSync(work, { recursive: true, force: true });
  await db?.drop();
  expect(left).toEqual([]);
});

describe('images built without Docker', () => {
  it.each([
    ['runtime', ['8080/tcp', '9464/tcp']],
    ['operator', ['9470/tcp']],
  ])('%s: the Dockerfile target’s command, user, workdir, environment and ports', (tag, ports) => {
    const want = dockerfileContract(tag);
    const got = readImage(tag).config;
    expect(got.Cmd).toEqual(want.cmd);
    expect(got.Entrypoint ?? null).toBeNull();
    expect(got.User).toBe(want.user);
    expect(got.User).toBe('1000:1000');
    expect(got.WorkingDir).toBe(want.workdir);
    for (const [k, v] of Object.entries(want.env)) expect(got.Env).toContain(`${k}=${v}`);
    expect(got.Env).toContain('NODE_ENV=production');
    expect(Object.keys(got.ExposedPorts ?? {}).sort()).toEqual([...want.expose].sort());
    expect(want.expose.sort()).toEqual(ports);
  });

  it('each holds its own workspace’s production dependencies of the lock file, none of the other’s, none for development', () => {
    // npm marks what only development needs with `dev: true` in the lock file (e.g. @types/node is
    // not one: a production dependency depends on it).
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lock;
    const entries = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const dev = entries.filter(([, p]) => p.dev).map(([path]) => path);
    expect(dev).toEqual(expect.arrayContaining(['node_modules/vitest', 'node_modules/typescript']));
    expect(dev).toContain('node_modules/@biomejs/biome');
    const images = { runtime, operator };
    for (const [name, spec] of Object.entries(IMAGES)) {
      const app = join(images[name as keyof typeof images].rootfs, 'app');
      const installed = installedPaths(lock, spec.workspace);
      const wanted = [...installed].filter((p) => !lock.packages[p]?.optional);
      expect(dev.filter((path) => existsSync(join(app, path)))).toEqual([]);
      expect(wanted.filter((path) => !existsSync(join(app, path)))).toEqual([]);
      // The other workspace's direct dependencies that nothing of this one needs are not there.
      const own = Object.keys(readManifest(spec.workspace).dependencies ?? {});
      const others = Object.values(IMAGES)
        .filter((i) => i !== spec)
        .flatMap((i) => Object.keys(readManifest(i.workspace).dependencies ?? {}))
        .filter((dep) => !own.includes(dep) && !installed.has(`node_modules/${dep}`));
      expect(others.length).toBeGreaterThan(0);
      expect(others.filter((dep) => existsSync(join(app, 'node_modules', dep)))).toEqual([]);
      expect(existsSync(join(app, 'runtime/api/main.ts'))).toBe(true);
      expect(existsSync(join(app, 'runtime/package.json'))).toBe(true);
      expect(existsSync(join(app, 'runtime/api/app.test.ts'))).toBe(false); // .dockerignore
    }
    expect(existsSync(join(runtime.rootfs, 'app/node_modules/fastify'))).toBe(true);
    expect(existsSync(join(runtime.rootfs, 'app/node_modules/@kubernetes/client-node'))).toBe(false);
    expect(existsSync(join(operator.rootfs, 'app/node_modules/@kubernetes/client-node'))).toBe(true);
    expect(existsSync(join(operator.rootfs, 'app/node_modules/fastify'))).toBe(false);
    expect(existsSync(join(operator.rootfs, 'app/operator/main.ts'))).toBe(true);
    expect(existsSync(join(runtime.rootfs, 'app/operator'))).toBe(false);
  });

  it('the two images share the base and Node layers (a node stores and pulls them once)', () => {
    const layers = (tag: string) => readImage(tag).layerDigests;
    const [rt, op] = [layers('runtime'), layers('operator')];
    expect(rt.slice(0, 2)).toEqual(op.slice(0, 2));
    expect(rt[2]).not.toBe(op[2]); // each its own dependencies
  });

  it('runs as 1000:1000 with the pinned Node, and cannot write to its root filesystem', async () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
    const probe = `
      const fs = require('node:fs');
      const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
      let vitest = 'found'; try { require.resolve('vitest'); } catch { vitest = 'absent'; }
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), version: process.version,
        cwd: process.cwd(), nodeEnv: process.env.NODE_ENV, vitest,
        root: tryWrite('/probe'), app: tryWrite('/app/probe'), tmp: tryWrite('/tmp/probe') }));`;
    for (const [name, image] of [
      ['runtime', runtime],
      ['operator', operator],
    ] as const) {
      const c = await runc.run({
        id: id(`probe-${name}`),
        rootfs: image.rootfs,
        image: image.config,
        args: ['node', '-e', probe],
      });
      expect(await c.exited, c.output()).toBe(0);
      const got = JSON.parse(c.output().trim().split('\n').at(-1) ?? '{}');
      expect(got).toEqual({
        uid: 1000,
        gid: 1000,
        version: `v${lock.packages['node_modules/node'].version}`,
        cwd: '/app',
        nodeEnv: 'production',
        vitest: 'absent',
        root: 'EROFS',
        app: 'EROFS',
        tmp: 'EROFS',
      });
    }
  });

  it('api: the default command starts and answers /healthz and /readyz (its ops port) on loopback; SIGTERM stops it cleanly', async () => {
    const [port, opsPort] = [await freePort(), await freePort()];
    const c = await runc.run({
      id: id('api'),
      rootfs: runtime.rootfs,
      image: runtime.config,
      env: {
        MYSQL_URL: db.appUrl,
        REDIS_URL: requireEnv('REDIS_URL'),
        REDIS_KEY_PREFIX: `img_${uniqueSuffix()}`,
        AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
        CONSISTENCY_TOKEN_SECRET: 'consistency-token-secret-of-the-images-test',
        API_PORT: String(port),
        API_OPS_PORT: String(opsPort),
        // The image runs NODE_ENV=production, which refuses the simulated provider unless allowed.
        ALLOW_SIMULATED_PROVIDER: 'true',
      },
    });
    await waitFor200(`http://127.0.0.1:${port}/healthz`, c.exited).catch((err) => {
      throw new Error(`${err.message}\n${c.output()}`);
    });
    await waitFor200(`http://127.0.0.1:${opsPort}/readyz`, c.exited);
    await c.signal('TERM');
    expect(await c.exited, c.output()).toBe(0);
  });

  it('consumer: `node runtime/consumer/main.ts` from the runtime image starts against the stack', async () => {
    const port = await freePort();
    const c = await runc.run({
      id: id('consumer'),
      rootfs: runtime.rootfs,
      image: runtime.config,
      args: ['node', 'runtime/consumer/main.ts'],
      env: {
        KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
        REDIS_URL: requireEnv('REDIS_URL'),
        TOPIC_PREFIX: `img${uniqueSuffix()}`,
        SOURCE_DATABASE: db.name,
        CONSUMER_AUTO_REBUILD: 'false',
        CONSUMER_METRICS_PORT: String(port),
        TOPIC_PARTITIONS: '1',
      },
    });
    await waitFor200(`http://127.0.0.1:${port}/healthz`, c.exited).catch((err) => {
      throw new Error(`${err.message}\n${c.output()}`);
    });
    await c.signal('TERM');
    expect(await c.exited, c.output()).toBe(0);
  });

  it('producer: without MYSQL_CDC_URL it exits 2 and names the variable', async () => {
    const c = await runc.run({
      id: id('producer'),
      rootfs: runtime.rootfs,
      image: runtime.config,
      args: ['node', 'runtime/producer/main.ts'],
      env: { KAFKA_BROKERS: requireEnv('KAFKA_BROKERS') },
    });
    expect(await c.exited, c.output()).toBe(2);
    expect(c.output()).toContain('MYSQL_CDC_URL');
  });

  it('operator: its default command runs operator/main.ts, which refuses an invalid OPS_PORT by name', async () => {
    const c = await runc.run({
      id: id('operator'),
      rootfs: operator.rootfs,
      image: operator.config,
      env: { OPS_PORT: 'not-a-port' },
    });
    // The one-line refusal every entry point gives (exit 2), named by the operator's main.
    expect(await c.exited, c.output()).toBe(2);
    expect(c.output()).toContain('operator: invalid configuration: OPS_PORT');
  });
});
