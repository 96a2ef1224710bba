import { createHash } from 'node:crypto';
import { type ChainableCommander, Redis } from 'ioredis';
import { RESP_TYPES, type RedisClientType } from 'redis';

/** A node-redis client (`createClient` from `redis`), any modules or type mapping. */
// biome-ignore lint/suspicious/noExplicitAny: the client's generics do not matter to a script call
export type NodeRedisClient = RedisClientType<any, any, any, any, any>;
/** Either client runs scripts: ioredis (most of the code) or node-redis (the api's hot route). */
export type ScriptClient = Redis | NodeRedisClient;

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

  async load(redis: ScriptClient): Promise<void> {
    const sha =
      redis instanceof Redis ? await redis.script('LOAD', this.source) : await redis.scriptLoad(this.source);
    if (sha !== this.sha) throw new Error(`Redis returned SHA ${String(sha)} for script ${this.sha}`);
  }

  /** One call; reloads and retries once when Redis lost the script. */
  async run(
    redis: ScriptClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await this.call(redis, keys, args, false);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await this.load(redis);
      return this.call(redis, keys, args, false);
    }
  }

  /** Like `run`, with bulk strings in the reply as Buffers (no UTF-8 decoding). */
  async runBuffer(
    redis: ScriptClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await this.call(redis, keys, args, true);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await this.load(redis);
      return this.call(redis, keys, args, true);
    }
  }

  private call(
    redis: ScriptClient,
    keys: readonly string[],
    args: readonly (string | number)[],
    buffers: boolean,
  ): Promise<unknown> {
    if (redis instanceof Redis) {
      // ioredis has `evalshaBuffer` but does not declare it; `callBuffer` loses the command name under
      // auto-pipelining (ioredis 5), so it cannot stand in.
      if (buffers)
        return (redis as unknown as EvalshaBuffer).evalshaBuffer(
          this.sha,
          this.numberOfKeys,
          ...keys,
          ...args,
        );
      return redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    }
    // node-redis writes every command queued in one tick in one socket write (its own pipelining).
    const client = buffers ? bufferClient(redis) : redis;
    return client.evalSha(this.sha, { keys: [...keys], arguments: args.map(String) }) as Promise<unknown>;
  }

  queue(pipeline: ChainableCommander, keys: readonly string[], args: readonly (string | number)[]): void {
    pipeline.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
  }
}

type EvalshaBuffer = {
  evalshaBuffer(sha: string, numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
};

const bufferClients = new WeakMap<NodeRedisClient, NodeRedisClient>();

/** The client's view with bulk strings as Buffers, made once per client. */
function bufferClient(redis: NodeRedisClient): NodeRedisClient {
  let client = bufferClients.get(redis);
  if (!client) {
    client = redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }) as NodeRedisClient;
    bufferClients.set(redis, client);
  }
  return client;
}

export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
