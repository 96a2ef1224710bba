import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LeanRedis, RedisReplyError } from './lean.ts';

/**
 * A loopback server speaking just enough RESP: it answers each command line-set with `answer(args)`,
 * written one byte per write when `dribble` is on (the client must parse across chunks).
 */
async function fakeServer(answer: (args: string[]) => string | null, dribble = false) {
  const sockets = new Set<Socket>();
  const seen: string[][] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const parsed = parseCommand(buf);
        if (!parsed) return;
        buf = buf.slice(parsed.used);
        seen.push(parsed.args);
        const reply = answer(parsed.args);
        if (reply === null) continue; // hangs
        if (!dribble) socket.write(reply, 'latin1');
        else for (const ch of reply) socket.write(ch, 'latin1');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    dropClients: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function parseCommand(buf: string): { args: string[]; used: number } | null {
  if (!buf.startsWith('*')) return null;
  let pos = buf.indexOf('\r\n');
  if (pos < 0) return null;
  const n = Number(buf.slice(1, pos));
  pos += 2;
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    const end = buf.indexOf('\r\n', pos);
    if (end < 0) return null;
    const len = Number(buf.slice(pos + 1, end));
    if (buf.length < end + 2 + len + 2) return null;
    args.push(buf.slice(end + 2, end + 2 + len));
    pos = end + 2 + len + 2;
  }
  return { args, used: pos };
}

/** A bulk string of `s`, whose characters are bytes (latin1, as the server reads and writes). */
const bulk = (s: string) => `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`;
const utf8 = (s: string) => Buffer.from(s).toString('latin1');

const open: Array<{ close(): Promise<void> }> = [];
const clients: LeanRedis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.quit();
  for (const s of open.splice(0)) await s.close();
});

function client(port: number, extra: Partial<ConstructorParameters<typeof LeanRedis>[0]> = {}) {
  const c = new LeanRedis({ host: '127.0.0.1', port, ...extra });
  clients.push(c);
  return c;
}

const basic = (args: string[]): string | null => {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case 'PING':
      return '+PONG\r\n';
    case 'AUTH':
      return rest[0] === 'app' && rest[1] === 'secret'
        ? '+OK\r\n'
        : '-WRONGPASS invalid username-password pair\r\n';
    case 'ECHO':
      return bulk(rest[0] ?? '');
    case 'MULTI':
      return '+OK\r\n';
    case 'GET':
      return '$-1\r\n';
    case 'EXISTS':
      return '+QUEUED\r\n';
    case 'EXEC':
      return `*3\r\n$-1\r\n:1\r\n*2\r\n${bulk('a')}${bulk(utf8('bé'))}`;
    case 'BAD':
      return '-ERR unknown command\r\n';
    case 'HANG':
      return null;
    default:
      return '+OK\r\n';
  }
};

describe('lean Redis connection', () => {
  it('parses replies split across any chunk boundary, in order, with pipelined callers', async () => {
    const server = await fakeServer(basic, true);
    open.push(server);
    const c = client(server.port);
    const texts = ['x', '', 'é'.repeat(40), 'line\r\nbreak'];
    const replies = await Promise.all(texts.map((t) => c.call(['ECHO', t])));
    expect(replies.map((r) => (r as Buffer).toString())).toEqual(texts);
    const block = await c.callMany([['MULTI'], ['GET', 'k'], ['EXISTS', 'r'], ['EXEC']]);
    expect(block[0]).toBe('OK');
    expect(block[1]).toBeNull();
    const exec = block[3] as [null, number, Buffer[]];
    expect(exec[0]).toBeNull();
    expect(exec[1]).toBe(1);
    expect(exec[2].map(String)).toEqual(['a', 'bé']);
  });

  it('rejects an error reply with the server message and stays usable', async () => {
    const server = await fakeServer(basic);
    open.push(server);
    const c = client(server.port);
    await expect(c.call(['BAD'])).rejects.toThrow(RedisReplyError);
    await expect(c.call(['BAD'])).rejects.toThrow('ERR unknown command');
    expect(String(await c.call(['ECHO', 'ok']))).toBe('ok');
  });

  it('authenticates with the ACL user before any command is written', async () => {
    const server = await fakeServer(basic);
    open.push(server);
    const c = client(server.port, { username: 'app', password: 'secret' });
    expect(String(await c.call(['ECHO', 'after auth']))).toBe('after auth');
    expect(server.seen[0]).toEqual(['AUTH', 'app', 'secret']);
  });

  it('fails a command that is not answered in time (ETIMEDOUT) and connects again by itself', async () => {
    const server = await fakeServer(basic);
    open.push(server);
    const c = client(server.port, { commandTimeoutMs: 200 });
    expect(String(await c.call(['ECHO', 'first']))).toBe('first');
    await expect(c.call(['HANG'])).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await waitUntil(async () => String(await c.call(['ECHO', 'again']).catch(() => '')) === 'again');
  });

  it('fails at once while the server is gone (ECONNRESET) and recovers when it is back', async () => {
    const server = await fakeServer(basic);
    open.push(server);
    const c = client(server.port);
    expect(String(await c.call(['ECHO', 'up']))).toBe('up');
    server.dropClients();
    await waitUntil(async () => c.status === 'down');
    await expect(c.call(['ECHO', 'x'])).rejects.toMatchObject({ code: 'ECONNRESET' });
    await waitUntil(async () => String(await c.call(['ECHO', 'back']).catch(() => '')) === 'back');
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
