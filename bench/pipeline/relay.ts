/**
 * A TCP/Unix-socket relay that can add latency: every chunk is passed on `delayMs / 2` after it arrived,
 * in each direction, in order, so every request/response round trip through it takes `delayMs` longer
 * (what `tc netem delay` on the link would do, for a kernel without the netem qdisc).
 *
 * Usage: node bench/pipeline/relay.ts <listen> <connect> [delayMs=0]
 *   <listen>, <connect>: `host:port` or the path of a Unix socket (starts with `/`).
 * Prints `listening` once it accepts connections; stops on SIGTERM/SIGINT.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

type Address = { path: string } | { host: string; port: number };

export function parseAddress(spec: string): Address {
  if (spec.startsWith('/')) return { path: spec };
  const at = spec.lastIndexOf(':');
  return { host: spec.slice(0, at), port: Number(spec.slice(at + 1)) };
}

/** Pipes `from` into `to`, each chunk held back `holdMs`; pauses `from` while `to` is not draining. */
function delayedPipe(from: Socket, to: Socket, holdMs: number): void {
  if (holdMs <= 0) {
    from.pipe(to);
    return;
  }
  const queue: { at: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let draining = false;
  const release = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.at ?? 0) <= now) {
      const item = queue.shift() as { chunk: Buffer };
      if (!to.write(item.chunk) && !draining) {
        draining = true;
        from.pause();
        to.once('drain', () => {
          draining = false;
          from.resume();
        });
      }
    }
    if (queue.length > 0) timer = setTimeout(release, Math.max(0, (queue[0]?.at ?? now) - now));
    else if (from.readableEnded) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ at: performance.now() + holdMs, chunk });
    timer ??= setTimeout(release, holdMs);
  });
  from.on('end', () => {
    if (queue.length === 0 && timer === undefined) to.end();
  });
}

export function startRelay(listen: Address, target: Address, delayMs: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (client) => {
    const upstream = 'path' in target ? connect(target.path) : connect({ ...target, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    delayedPipe(client, upstream, delayMs / 2);
    delayedPipe(upstream, client, delayMs / 2);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  if ('path' in listen) rmSync(listen.path, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen('path' in listen ? listen.path : { host: listen.host, port: listen.port }, () =>
      resolve(server),
    );
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [listen, target, delay] = process.argv.slice(2);
  if (!listen || !target) {
    process.stderr.write('usage: relay.ts <listen> <connect> [delayMs]\n');
    process.exit(2);
  }
  const server = await startRelay(parseAddress(listen), parseAddress(target), Number(delay ?? '0'));
  process.stdout.write('listening\n');
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
