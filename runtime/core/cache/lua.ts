import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';

/**
 * A Lua script run by SHA. It is loaded once (explicitly, or on the first NOSCRIPT after a Redis
 * restart or SCRIPT FLUSH) and then always called with EVALSHA, so the source is not resent per call.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;
  readonly numberOfKeys: number;

  constructor(source: string, numberOfKeys: number) {
    this.source = source;
    this.numberOfKeys = numberOfKeys;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async load(redis: Redis): Promise<void> {
    const sha = await redis.script('LOAD', this.source);
    if (sha !== this.sha) throw new Error(`Redis returned SHA ${String(sha)} for script ${this.sha}`);
  }

  /** One call; reloads and retries once when Redis lost the script. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await this.load(redis);
      return redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    }
  }

  /** Like `run`, with bulk strings in the reply as Buffers (no UTF-8 decoding). */
  async runBuffer(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    // ioredis has `evalshaBuffer` but does not declare it; `callBuffer` loses the command name under
    // auto-pipelining (ioredis 5), so it cannot stand in.
    const client = redis as unknown as EvalshaBuffer;
    try {
      return await client.evalshaBuffer(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await this.load(redis);
      return client.evalshaBuffer(this.sha, this.numberOfKeys, ...keys, ...args);
    }
  }

  queue(pipeline: ChainableCommander, keys: readonly string[], args: readonly (string | number)[]): void {
    pipeline.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
  }
}

type EvalshaBuffer = {
  evalshaBuffer(sha: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
};

export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
