// The producer, consumer and api started as processes with exactly the environment the operator's
// pod specs give them (rendered as the kubelet would, Secrets holding the test stack's credentials),
// against the real MariaDB, Kafka and Redis: each becomes ready, and the operator's duties find the
// producer's checkpoint and the consumer group's offsets under the names the pods were given.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineSpec, pipelineSpec } from '../../operator/api/v1alpha1/spec.ts';
import { desiredChildren } from '../../operator/controller/children.ts';
import type { Component } from '../../operator/controller/labels.ts';
import { consumerGroupOf } from '../../operator/duties/autoscaler/duty.ts';
import { createLagSource, type GroupLag } from '../../operator/duties/autoscaler/lag-reader.ts';
import { kafkaCheckpointStore } from '../../operator/duties/binlog/checkpoint-store.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { countKeys } from '../support/api.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { configMapsOf, containerOf, kubeletEnv } from '../support/kubelet-env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { deleteTopics, randomServerId, waitFor } from '../support/producer.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { type ServiceChild, spawnService } from '../support/service-process.ts';
import { freePort } from '../support/wait.ts';

type Running = ServiceChild;

const prefix = `podenv${uniqueSuffix()}`;
const components: Component[] = ['producer', 'consumer', 'api'];
let db: TestDatabase;
let spec: PipelineSpec;
let redis: Redis;
const running = new Map<Component, Running>();
const readyUrl = new Map<Component, string>();

// Each pod has its own network namespace; these processes share one, hence free ports.
function start(component: Component, env: Record<string, string>): Running {
  const started = spawnService(component, env);
  return { ...started, output: () => started.output().slice(-4000) };
}

beforeAll(async () => {
  db = await createTestDatabase();
  const app = new URL(db.appUrl);
  const cdc = new URL(db.cdcUrl);
  spec = pipelineSpec.parse({
    image: 'payments:test',
    mysql: {
      host: app.hostname,
      port: Number(app.port),
      database: db.name,
      credentialsSecret: 'mysql',
      serverId: randomServerId(),
      tables: ['packages', 'purchases', 'payments'],
    },
    kafka: { bootstrap: requireEnv('KAFKA_BROKERS'), topicPrefix: prefix, partitions: 2 },
    redis: { url: requireEnv('REDIS_URL'), keyPrefix: prefix },
    producer: { startFrom: { kind: 'latest' }, snapshot: 'never' },
    consumer: { minReplicas: 1, maxReplicas: 1 },
    // The image runs NODE_ENV=production: the simulated provider must be asked for explicitly.
    api: { authSecret: 'auth', allowSimulatedProvider: true },
    logLevel: 'warn',
  });
  const secrets = {
    mysql: {
      username: decodeURIComponent(app.username),
      password: decodeURIComponent(app.password),
      cdcUsername: decodeURIComponent(cdc.username),
      cdcPassword: decodeURIComponent(cdc.password),
    },
    auth: {
      jwtSecret: requireEnv('AUTH_JWT_SECRET'),
      consistencyTokenSecret: 'pod-env-consistency-token-secret-0123456789',
    },
  };
  const children = desiredChildren({ name: 'shop', namespace: 'ns', uid: 'u' }, spec);
  const configMaps = configMapsOf(children);
  redis = new Redis(requireEnv('REDIS_URL'));
  for (const component of components) {
    const env = kubeletEnv(containerOf(children, `shop-${component}`), configMaps, secrets);
    // Readiness is on each component's ops port; the api's public port needs a free one of its own too.
    const portVar = {
      producer: 'PRODUCER_METRICS_PORT',
      consumer: 'CONSUMER_METRICS_PORT',
      api: 'API_OPS_PORT',
    }[component];
    const port = await freePort();
    // NODE_ENV comes from the image (Dockerfile), not from the pod spec.
    const apiPort: Record<string, string> = component === 'api' ? { API_PORT: String(await freePort()) } : {};
    running.set(
      component,
      start(component, { NODE_ENV: 'production', ...env, ...apiPort, [portVar]: String(port) }),
    );
    readyUrl.set(component, `http://127.0.0.1:${port}/readyz`);
  }
});

afterAll(async () => {
  await Promise.all(
    [...running.values()].map(async (r) => {
      r.child.kill('SIGTERM');
      const timer = setTimeout(() => r.child.kill('SIGKILL'), 30_000);
      await r.exited;
      clearTimeout(timer);
    }),
  );
  await deleteTopics(prefix).catch(() => undefined);
  if (redis) {
    await deleteRedisKeys(redis, prefix);
    redis.disconnect();
  }
  await db?.drop();
});

describe('the services started with the environment of the operator’s pods', () => {
  it('become ready: each reaches its MySQL, Kafka and Redis with what the pod spec gives it', async () => {
    for (const component of components) {
      const r = running.get(component) as Running;
      let exitCode: number | null | undefined;
      void r.exited.then((code) => {
        exitCode = code;
      });
      await waitFor(
        `${component} ready`,
        async () => {
          if (exitCode !== undefined) throw new Error(`${component} exited (${exitCode}):\n${r.output()}`);
          const res = await fetch(readyUrl.get(component) ?? '').catch(() => undefined);
          return res?.status === 200;
        },
        90_000,
      );
    }
    // The consumer rebuilt the empty cache from MySQL under the pipeline's key prefix.
    expect(await countKeys(redis, prefix)).toBeGreaterThan(0);
  });

  it('a change flows through, and the duties find the checkpoint and the group offsets by name', async () => {
    await db.admin.query("UPDATE packages SET description = 'pod env probe' ORDER BY id LIMIT 1");
    const checkpoints = kafkaCheckpointStore(spec);
    await waitFor(
      'producer checkpoint under PRODUCER_NAME',
      async () => (await checkpoints.read()) !== null,
      60_000,
    );

    const lag = createLagSource(
      (b) => createKafkaAdmin({ brokers: b, clientId: `podenv-lag-${uniqueSuffix()}` }),
      consumerGroupOf,
    );
    try {
      let seen: GroupLag | undefined;
      // Offsets committed by the consumer pods are found under the group the autoscaler reads.
      await waitFor(
        'consumer group offsets under CONSUMER_GROUP',
        async () => {
          seen = await lag.lagOf(spec);
          return seen.partitions.some((p) => p.committed > 0n);
        },
        60_000,
      );
      expect(seen?.observation.kind).toBe('lag');
      expect(new Set(seen?.partitions.map((p) => p.topic))).toEqual(new Set(consumerGroupOf(spec).topics));
    } finally {
      await lag.close();
    }
  });
});
