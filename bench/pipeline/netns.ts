/**
 * A network namespace of the bench's own in which the broker is `delayMs` of round trip away, while
 * MariaDB and Redis are as near as outside.
 *
 * The servers listen on the host's loopback and the broker advertises 127.0.0.1:<port>, so inside the
 * namespace the same loopback addresses are served by relays (socat) that reach the host through Unix
 * sockets (file-system sockets cross network namespaces); the broker's path goes through relay.ts,
 * which holds every chunk back half the delay in each direction (the kernel here has no netem qdisc;
 * with one, `tc qdisc add dev lo root netem delay` inside the namespace would do the same). Ports the
 * bench reads inside the namespace (the services' /metrics and /readyz) are relayed out the same way.
 *
 * Needs root (ip netns). `close()` removes the namespace, the relays and the sockets; the bench calls it
 * on exit, error and SIGINT/SIGTERM, and a namespace left by a bench that was killed is removed on the
 * next start (its name carries the pid).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const NAME_PREFIX = 'ppbench';
const ROOT = new URL('../..', import.meta.url).pathname;

export type SlowBroker = {
  name: string;
  /** Command prefix that runs a process inside the namespace. */
  wrap: string[];
  /** Makes 127.0.0.1:<port> inside the namespace reachable as 127.0.0.1:<port> outside. */
  expose: (ports: number[]) => Promise<void>;
  close: () => Promise<void>;
};

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Namespaces of earlier runs whose bench process is gone. */
function removeStale(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = Number(name.slice(NAME_PREFIX.length));
    if (name.startsWith(NAME_PREFIX) && Number.isInteger(pid) && !alive(pid)) ip('netns', 'delete', name);
  }
}

async function waitForPath(path: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`relay for ${path} exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`relay socket ${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function slowBrokerNamespace(opts: {
  delayMs: number;
  /** host:port of the broker (as advertised: the namespace serves the same port on its loopback). */
  kafka: string;
  /** host:port of servers reached without delay (MariaDB, Redis). */
  direct: string[];
}): Promise<SlowBroker> {
  removeStale();
  const name = `${NAME_PREFIX}${process.pid}`;
  const dir = join(ROOT, '.local', 'bench-pipeline', name);
  const children: ChildProcess[] = [];
  const wrap = ['ip', 'netns', 'exec', name];
  const run = (command: string[]) => {
    const [cmd, ...args] = command;
    // socat reports every refused connect while a service starts: not worth printing.
    const quiet = command.includes('socat');
    const child = spawn(cmd as string, args, { stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'] });
    children.push(child);
    return child;
  };
  const close = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise((r) => {
              const t = setTimeout(() => c.kill('SIGKILL'), 3000);
              c.once('exit', () => r(clearTimeout(t)));
            }),
      ),
    );
    try {
      ip('netns', 'delete', name);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  mkdirSync(dir, { recursive: true });
  ip('netns', 'add', name);
  try {
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    const portOf = (hostPort: string) => hostPort.slice(hostPort.lastIndexOf(':') + 1);
    // Outbound: host side listens on a Unix socket, the namespace side serves the loopback port.
    const inward = async (hostPort: string, hostSide: string[], sock: string) => {
      await waitForPath(sock, run(hostSide));
      run([
        ...wrap,
        'socat',
        `TCP-LISTEN:${portOf(hostPort)},bind=127.0.0.1,reuseaddr,fork`,
        `UNIX-CONNECT:${sock}`,
      ]);
    };
    for (const hostPort of opts.direct) {
      const sock = join(dir, `out-${portOf(hostPort)}.sock`);
      await inward(hostPort, ['socat', `UNIX-LISTEN:${sock},fork`, `TCP:${hostPort}`], sock);
    }
    const kafkaSock = join(dir, `out-${portOf(opts.kafka)}.sock`);
    await inward(
      opts.kafka,
      [process.execPath, join(ROOT, 'bench/pipeline/relay.ts'), kafkaSock, opts.kafka, String(opts.delayMs)],
      kafkaSock,
    );
    await new Promise((r) => setTimeout(r, 300));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    name,
    wrap,
    async expose(ports) {
      for (const port of ports) {
        const sock = join(dir, `in-${port}.sock`);
        await waitForPath(sock, run([...wrap, 'socat', `UNIX-LISTEN:${sock},fork`, `TCP:127.0.0.1:${port}`]));
        run(['socat', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${sock}`]);
      }
      await new Promise((r) => setTimeout(r, 200));
    },
    close,
  };
}
