import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createKafkaAdmin, type KafkaSecurity } from '../../runtime/core/kafka/index.ts';
import type { RedisClient } from '../../runtime/core/redis/client.ts';
import { createRedis, redisConfigOf } from '../../runtime/core/redis/connect.ts';
import { requireEnv as requireStackEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { eventually, freePort } from '../support/wait.ts';

export { eventually, freePort };

const ROOT = new URL('../..', import.meta.url).pathname;
export const LOG_DIR = join(ROOT, '.local', 'tmp', 'e2e');

export type ServiceName = 'producer' | 'consumer' | 'api';

export function serviceExists(name: ServiceName): boolean {
  return existsSync(join(ROOT, 'runtime', name, 'main.ts'));
}

/** One service as a real child process (`node runtime/<svc>/main.ts`), logs under .local/tmp/e2e. */
export class ServiceProcess {
  readonly name: ServiceName;
  readonly port: number;
  private readonly env: Record<string, string>;
  /** Command the process is started under, e.g. `ip netns exec <ns>` (default none). */
  private readonly wrap: string[];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  constructor(name: ServiceName, port: number, env: Record<string, string>, wrap: string[] = []) {
    this.name = name;
    this.port = port;
    this.env = env;
    this.wrap = wrap;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Started and not exited (neither by itself nor by a signal). */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** One /readyz probe: true on 200. */
  ready(): Promise<boolean> {
    return fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
  }

  async start(timeoutMs = 90_000): Promise<void> {
    mkdirSync(LOG_DIR, { recursive: true });
    const log = createWriteStream(join(LOG_DIR, `${this.env.TOPIC_PREFIX}-${this.name}.log`), { flags: 'a' });
    const [command, ...args] = [...this.wrap, process.execPath, join(ROOT, 'runtime', this.name, 'main.ts')];
    const child = spawn(command as string, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${this.name} exited with ${child.exitCode}; see ${LOG_DIR}`);
      const ok = await fetch(`http://127.0.0.1:${this.port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline)
        throw new Error(`${this.name} not ready within ${timeoutMs} ms; see ${LOG_DIR}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** kill -9: no shutdown hooks, nothing flushed. */
  async crash(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait (SIGKILL after the deadline); resolves with the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null)
      return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    try {
      return (await this.exited) ?? null;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs a one-shot command of the project (`node runtime/...`) and returns its exit code and output. */
export function runTool(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, script)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

export type Pipeline = {
  db: TestDatabase;
  prefix: string;
  env: Record<string, string>;
  producer: ServiceProcess;
  consumer: ServiceProcess;
  api: ServiceProcess;
  apiUrl: string;
  redis: RedisClient;
  toolEnv: Record<string, string>;
  /** Stops the services (SIGTERM) and removes the database, topics and Redis keys of this run. */
  teardown: () => Promise<void>;
};

/** A whole pipeline of its own: database, topic prefix, Redis key prefix and the three services. */
export async function startPipeline(
  opts: {
    partitions?: number;
    logLevel?: string;
    /** Which services to start (default all three). */
    services?: ServiceName[];
    producerEnv?: Record<string, string>;
    consumerEnv?: Record<string, string>;
    apiEnv?: Record<string, string>;
    /** Settings of the servers to use (a private stack's env file); default: the test stack. */
    stack?: Record<string, string>;
    /** Fixed ports for the services, the api's ops port too (default: free ephemeral ones). */
    ports?: Record<ServiceName | 'apiOps', number>;
    /** The topic prefix (default a fresh `e2e<suffix>`), e.g. the one a secured broker's ACLs name. */
    prefix?: string;
    /** How the teardown's Kafka admin connects (a secured broker: its admin user). */
    adminSecurity?: KafkaSecurity;
    /** Command the services are started under (e.g. `ip netns exec <ns>`: a network namespace). */
    wrap?: string[];
  } = {},
): Promise<Pipeline> {
  const services = opts.services ?? ['producer', 'consumer', 'api'];
  const requireEnv = (name: string) => requireStackEnv(name, opts.stack);
  const stackValue = (name: string) => (opts.stack ?? process.env)[name];
  const db = await createTestDatabase(
    opts.stack
      ? {
          server: {
            adminUrl: requireEnv('MYSQL_ADMIN_URL'),
            appUrl: requireEnv('MYSQL_URL'),
            cdcUrl: requireEnv('MYSQL_CDC_URL'),
          },
        }
      : {},
  );
  const prefix = opts.prefix ?? `e2e${uniqueSuffix()}`;
  const [producerPort, consumerPort, apiPort, apiOpsPort] = opts.ports
    ? [opts.ports.producer, opts.ports.consumer, opts.ports.api, opts.ports.apiOps]
    : [await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
    REDIS_URL: requireEnv('REDIS_URL'),
    // A Redis Cluster (REDIS_MODE=cluster, REDIS_URL its seed nodes) when the stack runs one.
    ...(stackValue('REDIS_MODE') ? { REDIS_MODE: stackValue('REDIS_MODE') as string } : {}),
    TOPIC_PREFIX: prefix,
    TOPIC_PARTITIONS: String(opts.partitions ?? 3),
    LOG_LEVEL: opts.logLevel ?? 'warn',
  };
  const toolEnv = { ...env, MYSQL_URL: db.appUrl };
  const producer = new ServiceProcess(
    'producer',
    producerPort,
    {
      ...env,
      MYSQL_CDC_URL: db.cdcUrl,
      PRODUCER_SERVER_ID: String(10_000 + Math.floor(Math.random() * 50_000)),
      PRODUCER_METRICS_PORT: String(producerPort),
      START_FROM: 'latest',
      ...opts.producerEnv,
    },
    opts.wrap,
  );
  const consumer = new ServiceProcess(
    'consumer',
    consumerPort,
    {
      ...toolEnv,
      CONSUMER_METRICS_PORT: String(consumerPort),
      ...opts.consumerEnv,
    },
    opts.wrap,
  );
  // Its process is watched on the ops port (readiness, metrics), like the producer's and consumer's.
  const api = new ServiceProcess('api', apiOpsPort, {
    ...env,
    MYSQL_URL: db.appUrl,
    API_PORT: String(apiPort),
    API_OPS_PORT: String(apiOpsPort),
    AUTH_JWT_SECRET: requireEnv('AUTH_JWT_SECRET'),
    RATE_LIMIT_USER_PER_MINUTE: '0',
    RATE_LIMIT_IP_PER_MINUTE: '0',
    ...opts.apiEnv,
  });
  const redis = createRedis(redisConfigOf(env));
  // It reconnects by itself; suites that restart Redis would otherwise print every refused connect.
  redis.on('error', () => undefined);
  const pipeline: Pipeline = {
    db,
    prefix,
    env,
    producer,
    consumer,
    api,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    redis,
    toolEnv,
    async teardown() {
      await Promise.all([api.stop(), consumer.stop(), producer.stop()]);
      await deleteRedisKeys(redis, prefix);
      redis.disconnect();
      const admin = createKafkaAdmin({
        brokers: env.KAFKA_BROKERS.split(','),
        clientId: `${prefix}-teardown`,
        security: opts.adminSecurity,
      });
      try {
        const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
        await admin.deleteTopics(mine);
      } finally {
        await admin.close();
      }
      await db.drop();
    },
  };
  try {
    for (const service of [producer, consumer, api]) {
      if (services.includes(service.name)) await service.start();
    }
  } catch (err) {
    await pipeline.teardown().catch(() => undefined);
    throw err;
  }
  return pipeline;
}
