// Kafka as managed services run it: SASL_SSL (SCRAM-SHA-512 over TLS) with the standard authorizer
// and one user per service (dev/lib/kafka.sh, KAFKA_SECURITY=sasl_ssl, on a private broker). Each
// service's Kafka work passes with its own user, what it must not do is refused, and a wrong password
// stops a service at once with a clear message instead of a reconnection loop.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import {
  accessErrorMessage,
  accessRefusal,
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
  isAccessError,
  type KafkaSecurity,
} from '../../runtime/core/kafka/index.ts';
import { uniqueSuffix } from '../support/env.ts';
import { type PrivateStack, privateStack } from '../support/private-stack.ts';
import { freeStablePort } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
// The ACLs are granted for the stack's topic prefix (the test profile's `paytest`).
const PREFIX = 'paytest';
const DIR = `.local/kafka-sasl-${uniqueSuffix()}`;

let stack: PrivateStack;
let env: Record<string, string>;
let brokers: string[];

beforeAll(async () => {
  const [port, controller] = [await freeStablePort(), await freeStablePort()];
  stack = privateStack('outage', ['kafka'], {
    dir: DIR,
    env: { KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controller), KAFKA_SECURITY: 'sasl_ssl' },
  });
  await stack.run('up');
  env = stack.env();
  brokers = [env.KAFKA_BROKERS ?? ''];
}, 240_000);
afterAll(async () => {
  await stack?.run('down');
  const { rmSync } = await import('node:fs');
  rmSync(`${ROOT}/${DIR}`, { recursive: true, force: true });
});

const as = (user: 'producer' | 'consumer' | 'operator', password?: string): KafkaSecurity => ({
  protocol: 'SASL_SSL',
  sasl: {
    mechanism: 'SCRAM-SHA-512',
    username: user,
    password: password ?? env[`KAFKA_${user.toUpperCase()}_PASSWORD`] ?? '',
  },
  tls: { ca: readFileSync(env.KAFKA_TLS_CA_FILE ?? '', 'utf8') },
});

const changeTopic = `${PREFIX}.shop.payments`;
const where = (user: 'producer' | 'operator') => ({
  brokers,
  security: as(user),
  topicPrefix: PREFIX,
  name: PREFIX,
});
const checkpoint = {
  v: 1 as const,
  gtid: '0-1-42',
  file: 'bin.000001',
  pos: 1234,
  partial: null,
  source_ts_ms: 1,
  ts_ms: 2,
};

/** What an operation was refused with (null when it was not). */
async function refusal(op: () => Promise<unknown>): Promise<unknown> {
  try {
    await op();
    return null;
  } catch (err) {
    return err;
  }
}

describe('Kafka SASL_SSL with ACLs', () => {
  it('the producer user creates the topics, publishes in transactions and writes and reads its checkpoint', async () => {
    const admin = createKafkaAdmin({
      brokers,
      clientId: `${PREFIX}.producer-admin`,
      security: as('producer'),
    });
    try {
      await admin.ensureTopics([{ name: changeTopic, partitions: 1, replicationFactor: 1 }]);
    } finally {
      await admin.close();
    }
    await writeCheckpoint(where('producer'), checkpoint);
    const producer = createDurableProducer({
      brokers,
      clientId: `${PREFIX}.producer`,
      transactionalId: `${PREFIX}.producer`,
      security: as('producer'),
    });
    try {
      await producer.send([{ topic: changeTopic, key: '{"id":"pay_1"}', value: '{"op":"c"}' }]);
    } finally {
      await producer.close();
    }
    expect(await readCheckpoint(where('producer'), 20_000)).toMatchObject({ gtid: '0-1-42', pos: 1234 });
  });

  it('the consumer user reads the change topics and commits its group', async () => {
    const consumer = createGroupConsumer({
      brokers,
      clientId: `${PREFIX}.consumer-test`,
      groupId: `${PREFIX}.consumer`,
      security: as('consumer'),
    });
    try {
      const stream = await consumer.consume([changeTopic]);
      for await (const m of stream) {
        expect(m.key).toBe('{"id":"pay_1"}');
        await m.commit();
        break;
      }
    } finally {
      await consumer.close();
    }
    // The operator user sees the group's position (consumer lag), nothing more.
    const admin = createKafkaAdmin({
      brokers,
      clientId: 'payment-pipeline-operator',
      security: as('operator'),
    });
    try {
      const lag = await admin.consumerLag(`${PREFIX}.consumer`, [changeTopic]);
      // Committed past the one record (the end also counts the transaction's commit marker).
      expect(lag).toMatchObject([{ topic: changeTopic, partition: 0, committed: 1n }]);
    } finally {
      await admin.close();
    }
  });

  it('the consumer user cannot produce to a change topic (no forged events) nor use another group', async () => {
    const forger = createDurableProducer({ brokers, clientId: 'forger', security: as('consumer') });
    const forged = await refusal(() =>
      forger.send([
        { topic: changeTopic, key: '{"id":"pay_1"}', value: '{"op":"u","after":{"status":"succeeded"}}' },
      ]),
    );
    await forger.close().catch(() => undefined);
    expect(accessRefusal(forged)).toBe('TOPIC_AUTHORIZATION_FAILED');

    const other = createGroupConsumer({
      brokers,
      clientId: 'other-group',
      groupId: `${PREFIX}.someone-else`,
      security: as('consumer'),
    });
    const joined = await refusal(() => other.consume([changeTopic]));
    await other.close().catch(() => undefined);
    expect(accessRefusal(joined)).toBe('GROUP_AUTHORIZATION_FAILED');
  });

  it('the operator user reads and rewrites the checkpoint (startFrom) but cannot write a change topic', async () => {
    expect(await readCheckpoint(where('operator'), 20_000)).toMatchObject({ gtid: '0-1-42' });
    await writeCheckpoint(where('operator'), { ...checkpoint, pos: 4 });
    expect(await readCheckpoint(where('producer'), 20_000)).toMatchObject({ pos: 4 });
    // Even with the producer's transactional id (which it may use, to fence a running producer).
    const forger = createDurableProducer({
      brokers,
      clientId: 'payment-pipeline-operator',
      security: as('operator'),
      transactionalId: `${PREFIX}.producer`,
    });
    const forged = await refusal(() =>
      forger.send([{ topic: changeTopic, key: '{"id":"x"}', value: '{"op":"c"}' }]),
    );
    await forger.close().catch(() => undefined);
    expect(accessRefusal(forged), String(forged)).toBe('TOPIC_AUTHORIZATION_FAILED');
  });

  it('a wrong password fails fast with a clear error', async () => {
    const admin = createKafkaAdmin({
      brokers,
      clientId: 'wrong',
      security: as('producer', 'not-the-password'),
    });
    const started = Date.now();
    const err = await refusal(() => admin.endOffsets([changeTopic]));
    await admin.close().catch(() => undefined);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(isAccessError(err)).toBe(true);
    expect(accessErrorMessage(err, 'user producer')).toMatch(/refused the credentials of user producer/);
  });

  it('the consumer service with a wrong password exits with the reason instead of reconnecting', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [`${ROOT}/runtime/consumer/main.ts`], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        KAFKA_BROKERS: brokers.join(','),
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_USERNAME: 'consumer',
        KAFKA_SASL_PASSWORD: 'not-the-password',
        KAFKA_TLS_CA_FILE: env.KAFKA_TLS_CA_FILE ?? '',
        TOPIC_PREFIX: PREFIX,
        SOURCE_DATABASE: 'shop',
        CONSUMER_AUTO_REBUILD: 'false',
        CONSISTENCY_CHECK_RATE: '0',
        REDIS_URL: process.env.REDIS_URL ?? '',
        REDIS_KEY_PREFIX: `sasltest_${uniqueSuffix()}`,
        CONSUMER_METRICS_PORT: String(await freeStablePort()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const code = await new Promise<number | null>((done) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        done(c);
      });
    });
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(40_000);
    expect(output).toMatch(/Kafka refused the credentials of user consumer/);
    expect(output).not.toMatch(/reconnecting after a backoff/);
  }, 60_000);
});
