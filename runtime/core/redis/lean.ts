import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/**
 * A lean Redis connection for the api's hot read path: one socket, RESP2, every command of one tick
 * written in one socket write (auto-pipelining) and the replies parsed from the socket's buffers in
 * place (bulk strings are Buffers that point into them, nothing is decoded). It does what the read
 * path needs and no more: TLS, AUTH (ACL user), SELECT, a command timeout, reconnecting by itself.
 * Standalone servers only: Sentinel and Cluster stay with ioredis (runtime/core/redis/connect.ts).
 *
 * Why: on the package route ioredis spends several times Redis's own time per command (command
 * objects, its pipeline and decoder); this path spends a few microseconds.
 *
 * Failure behaviour (the api turns these into 503, runtime/api/unavailable.ts): a command sent while
 * the connection is down fails at once (`Connection is closed.`, code ECONNRESET); one not answered
 * within `commandTimeoutMs` fails with code ETIMEDOUT and the connection is dropped (its replies can no
 * longer be matched) and made again. Commands sent while a connection is being made wait for it.
 */
export type LeanRedisOptions = {
  host: string;
  port: number;
  /** TLS options (rediss://); the server's certificate and host name are verified by default. */
  tls?: ConnectionOptions | undefined;
  username?: string | undefined;
  password?: string | undefined;
  db?: number | undefined;
  /** A command not answered by then fails and the connection is made again. */
  commandTimeoutMs?: number;
  /** Shown in CLIENT LIST. */
  connectionName?: string;
  onError?: (err: Error) => void;
};

export type Reply = Buffer | string | number | null | Error | Reply[];

/** An error reply of the server (`-ERR …`); the connection stays usable. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisReplyError';
  }
}

/** `n` replies make one answer (`callMany`); a single call (n = 1) rejects on an error reply. */
type Pending = {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  at: number;
  n: number;
  replies: Reply[] | null;
};
type Args = readonly (string | number)[];

const NEED_MORE = Symbol('need more');
const CRLF = 0x0d;

function closedError(cause?: unknown): Error {
  return Object.assign(new Error('Connection is closed.', { cause }), { code: 'ECONNRESET' });
}

export class LeanRedis {
  private readonly opts: LeanRedisOptions;
  private socket: Socket | undefined;
  /** 'connecting': commands wait; 'ready': they are sent; 'down': they fail; 'closed': quit. */
  private state: 'connecting' | 'ready' | 'down' | 'closed' = 'down';
  private out = '';
  private flushQueued = false;
  private readonly pending: Pending[] = [];
  private head = 0;
  private waiting: { cmds: readonly Args[]; p: Pending }[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private attempts = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly sweep: NodeJS.Timeout | undefined;

  constructor(opts: LeanRedisOptions) {
    this.opts = opts;
    const timeout = opts.commandTimeoutMs ?? 0;
    if (timeout > 0) {
      this.sweep = setInterval(() => this.checkTimeout(timeout), Math.max(10, Math.floor(timeout / 4)));
      this.sweep.unref();
    }
    this.open();
  }

  get status(): string {
    return this.state;
  }

  /** One command; its reply (an error reply rejects with RedisReplyError). */
  call(args: Args): Promise<Reply> {
    return this.submit([args], 1) as Promise<Reply>;
  }

  /**
   * Several commands written back to back (a MULTI … EXEC block); resolves with every reply in order,
   * error replies as RedisReplyError values (a refused block shows in EXEC's reply).
   */
  callMany(cmds: readonly Args[]): Promise<Reply[]> {
    return this.submit(cmds, cmds.length) as Promise<Reply[]>;
  }

  private submit(cmds: readonly Args[], n: number): Promise<Reply | Reply[]> {
    return new Promise<Reply | Reply[]>((resolve, reject) => {
      const p: Pending = {
        resolve: resolve as (r: Reply) => void,
        reject,
        at: performance.now(),
        n,
        replies: null,
      };
      if (this.state === 'ready') this.send(cmds, p);
      else if (this.state === 'connecting') this.waiting.push({ cmds, p });
      else reject(closedError());
    });
  }

  /** Closes the connection; pending commands fail, no reconnection. */
  async quit(): Promise<void> {
    this.state = 'closed';
    clearInterval(this.sweep);
    clearTimeout(this.retry);
    this.socket?.destroy();
    this.failAll(closedError());
  }

  private send(cmds: readonly Args[], p: Pending): void {
    let out = '';
    for (const args of cmds) {
      out += `*${args.length}\r\n`;
      for (const a of args) {
        const s = typeof a === 'string' ? a : String(a);
        out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      }
    }
    this.out += out;
    this.pending.push(p);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    const data = this.out;
    this.out = '';
    this.socket?.write(data);
  }

  private open(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const { host, port, tls } = this.opts;
    const socket = tls ? tlsConnect({ host, port, servername: host, ...tls }) : netConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    socket.once(tls ? 'secureConnect' : 'connect', () => this.handshake());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.opts.onError?.(err));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.down(closedError());
    });
  }

  /** AUTH, SELECT and the name go first; commands sent meanwhile are written once they succeed. */
  private handshake(): void {
    const steps: (string | number)[][] = [];
    const { username, password, db, connectionName } = this.opts;
    if (password !== undefined) steps.push(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (db !== undefined && db !== 0) steps.push(['SELECT', db]);
    steps.push(['PING']);
    const socket = this.socket;
    // The name is a courtesy (CLIENT LIST): a user not allowed to set it still reads.
    if (connectionName)
      this.send([['CLIENT', 'SETNAME', connectionName]], {
        resolve: () => {},
        reject: () => {},
        at: performance.now(),
        n: 1,
        replies: null,
      });
    const replies = steps.map(
      (args) =>
        new Promise<Reply>((resolve, reject) =>
          this.send([args], { resolve, reject, at: performance.now(), n: 1, replies: null }),
        ),
    );
    Promise.all(replies).then(
      () => {
        if (this.socket !== socket || this.state !== 'connecting') return;
        this.state = 'ready';
        this.attempts = 0;
        const waiting = this.waiting;
        this.waiting = [];
        for (const w of waiting) this.send(w.cmds, w.p);
      },
      (err: Error) => {
        if (this.socket !== socket) return;
        this.opts.onError?.(err);
        socket?.destroy();
      },
    );
  }

  private down(err: Error): void {
    this.socket = undefined;
    this.out = '';
    this.failAll(err);
    if (this.state === 'closed') return;
    this.state = 'down';
    const delay = Math.min(50 * 2 ** this.attempts++, 2000);
    this.retry = setTimeout(() => this.open(), delay);
    this.retry.unref();
  }

  private failAll(err: Error): void {
    const pending = this.pending.splice(this.head);
    this.pending.length = 0;
    this.head = 0;
    const waiting = this.waiting;
    this.waiting = [];
    for (const p of pending) p.reject(err);
    for (const w of waiting) w.p.reject(err);
  }

  private checkTimeout(timeoutMs: number): void {
    const oldest = this.pending[this.head] ?? this.waiting[0]?.p;
    if (!oldest || performance.now() - oldest.at < timeoutMs) return;
    const err = Object.assign(new Error(`Redis did not answer within ${timeoutMs} ms`), {
      code: 'ETIMEDOUT',
    });
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.down(err);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk;
    this.pos = 0;
    for (;;) {
      const start = this.pos;
      let reply: Reply | typeof NEED_MORE;
      try {
        reply = this.parse();
      } catch (err) {
        // Not RESP: the stream cannot be trusted any more; the connection is made again.
        this.opts.onError?.(err as Error);
        this.socket?.destroy();
        return;
      }
      if (reply === NEED_MORE) {
        this.pos = start;
        return;
      }
      const p = this.pending[this.head];
      if (!p) {
        // A reply nobody asked for: the stream cannot be trusted any more.
        this.socket?.destroy();
        return;
      }
      if (p.n > 1) {
        p.replies ??= [];
        p.replies.push(reply);
        if (p.replies.length < p.n) continue;
      }
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.pending.length) {
        this.pending.splice(0, this.head);
        this.head = 0;
      }
      if (p.n > 1) p.resolve(p.replies as Reply);
      else if (reply instanceof RedisReplyError) p.reject(reply);
      else p.resolve(reply);
    }
  }

  /** The end of the line starting at `from` (the index of its CR), or -1. */
  private lineEnd(from: number): number {
    const i = this.buf.indexOf(CRLF, from);
    return i < 0 || i + 1 >= this.buf.length ? -1 : i;
  }

  private parse(): Reply | typeof NEED_MORE {
    const buf = this.buf;
    if (this.pos >= buf.length) return NEED_MORE;
    const type = buf[this.pos];
    const end = this.lineEnd(this.pos + 1);
    if (end < 0) return NEED_MORE;
    const line = this.pos + 1;
    switch (type) {
      case 0x24: {
        // $<len> bulk string
        const len = intOf(buf, line, end);
        if (len < 0) {
          this.pos = end + 2;
          return null;
        }
        const from = end + 2;
        if (from + len + 2 > buf.length) return NEED_MORE;
        this.pos = from + len + 2;
        return buf.subarray(from, from + len);
      }
      case 0x2a: {
        // *<n> array
        const n = intOf(buf, line, end);
        this.pos = end + 2;
        if (n < 0) return null;
        const items: Reply[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const item = this.parse();
          if (item === NEED_MORE) return NEED_MORE;
          items[i] = item;
        }
        return items;
      }
      case 0x3a: // :<int>
        this.pos = end + 2;
        return intOf(buf, line, end);
      case 0x2b: // +simple
        this.pos = end + 2;
        return buf.toString('utf8', line, end);
      case 0x2d: // -error
        this.pos = end + 2;
        return new RedisReplyError(buf.toString('utf8', line, end));
      default:
        throw new Error(`unexpected RESP type byte ${type}`);
    }
  }
}

function intOf(buf: Buffer, from: number, end: number): number {
  let i = from;
  let sign = 1;
  if (buf[i] === 0x2d) {
    sign = -1;
    i++;
  }
  let n = 0;
  for (; i < end; i++) n = n * 10 + ((buf[i] as number) - 48);
  return sign * n;
}
