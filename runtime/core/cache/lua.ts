import { createHash } from 'node:crypto';
import { masters, type RedisClient } from '../redis/client.ts';

/**
 * A Lua script run by SHA. It is called with EVALSHA, so the source is not resent per call; where a
 * server does not know it (first use, a Redis restart, SCRIPT FLUSH, a replica promoted in a cluster)
 * the one call falls back to EVAL, which also caches it there. Every key it touches comes in KEYS.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  /** `numberOfKeys` documents the fixed key count (-1: variable); calls pass their keys' count. */
  constructor(source: string, _numberOfKeys: number) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Loads the script on every master (optional warm-up: calls fall back to EVAL anyway). */
  async load(redis: RedisClient): Promise<void> {
    await Promise.all(
      (await masters(redis)).map(async (node) => {
        const sha = await node.script('LOAD', this.source);
        if (sha !== this.sha) throw new Error(`Redis returned SHA ${String(sha)} for script ${this.sha}`);
      }),
    );
  }

  /** One call; EVAL when the server lacks the script. */
  async run(
    redis: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /** Like `run`, with bulk strings in the reply as Buffers (no UTF-8 decoding). */
  async runBuffer(
    redis: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    // ioredis has `evalshaBuffer` but does not declare it; `callBuffer` loses the command name under
    // auto-pipelining (ioredis 5), so it cannot stand in.
    const client = redis as unknown as EvalBuffer;
    try {
      return await client.evalshaBuffer(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return client.evalBuffer(this.source, keys.length, ...keys, ...args);
    }
  }
}

type EvalBuffer = {
  evalshaBuffer(sha: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  evalBuffer(source: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
};

export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
