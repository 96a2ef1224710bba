// A Sentinel failover to a replica that lagged behind: the consumer must not have committed the
// offsets of writes only the old master had. Real redis-servers of the suite's own (master, replica,
// Sentinel: temp dirs, free ports, stopped by pid); Kafka and MariaDB are the test stack's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerEnvSchema } from '../../runtime/consumer/config.ts';
import { deadLetterTopic } from '../../runtime/consumer/dead-letters.ts';
import { type ConsumerService, startConsumerService } from '../../runtime/consumer/service.ts';
import { cacheKeys } from '../../runtime/core/cache/keys.ts';
import { parseEnv } from '../../runtime/core/config/env.ts';
import { topicName } from '../../runtime/core/events/envelope.ts';
import {
  createDurableProducer,
  createKafkaAdmin,
  type DurableProducer,
  type KafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { createRegistry } from '../../runtime/core/metrics.ts';
import { versionOf } from '../../runtime/core/position.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { advanceSource, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.ts';
import { eventually, waitFor } from '../support/wait.ts';
import { changeRecord, purchaseRow } from './consumer-fixtures.ts';

const suffix = uniqueSuffix();
const prefix = `cfail${suffix}`;
const group = `mygroup-${suffix}`;
const keys = cacheKeys(prefix);
const brokers = requireEnv('KAFKA_BROKERS').split(',');
const log = createLogger('consumer-failover-test', 'warn');

let db: TestDatabase;
let admin: KafkaAdmin;
let producer: DurableProducer;
let master: RedisProcess;
let replica: RedisProcess;
let sentinel: RedisProcess;
let service: ConsumerService | undefined;
let topic = '';
let base = 0n;
const servers: RedisProcess[] = [];

const purchase = (n: number) =>
  changeRecord({
    topic,
    table: 'purchases',
    op: 'c',
    seq: base + BigInt(n),
    after: purchaseRow(`pur_f${n}`, 'u_failover', n),
  });
const versionOn = (server: RedisProcess, n: number) =>
  server.probe.hget(keys.userRow('u_failover', 'purchases', `pur_f${n}`), 'v');
const sentinelMaster = async () =>
  ((await sentinel.probe.call('SENTINEL', 'get-master-addr-by-name', group)) as string[] | null)?.[1];

beforeAll(async () => {
  db = await createTestDatabase();
  topic = topicName(prefix, db.name, 'purchases');
  admin = createKafkaAdmin({ brokers, clientId: `cfail-admin-${suffix}` });
  producer = createDurableProducer({ brokers, clientId: `cfail-producer-${suffix}` });
  master = await startRedisProcess();
  servers.push(master);
  replica = await startRedisProcess({ config: [`replicaof 127.0.0.1 ${master.port}`] });
  servers.push(replica);
  sentinel = await startRedisProcess({
    sentinel: true,
    config: [
      `sentinel monitor ${group} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${group} 1000`,
      `sentinel failover-timeout ${group} 5000`,
    ],
  });
  servers.push(sentinel);
  // Sentinel learns of replicas from the master's INFO (every 10 s at first).
  await waitFor(
    'Sentinel lists the replica',
    async () => {
      const replicas = (await sentinel.probe.call('SENTINEL', 'replicas', group)) as string[][];
      return replicas.some((r) => r.includes(String(replica.port)) && !r.join(' ').includes('s_down'));
    },
    30_000,
    200,
  );
}, 60_000);

afterAll(async () => {
  await service?.stop();
  replica?.resume();
  await producer?.close();
  await admin
    ?.deleteTopics([
      ...['packages', 'purchases', 'payments'].map((t) => topicName(prefix, db.name, t)),
      deadLetterTopic(prefix),
    ])
    .catch(() => undefined);
  await admin?.close();
  for (const s of servers.reverse()) await s.stop();
  await db?.drop();
}, 60_000);

describe('consumer across a Sentinel failover to a lagging replica', () => {
  it('commits no offset whose write the promoted replica lacks: the write is applied again there', async () => {
    service = await startConsumerService(
      parseEnv(consumerEnvSchema, {
        KAFKA_BROKERS: brokers.join(','),
        TOPIC_PREFIX: prefix,
        REDIS_URL: `redis://127.0.0.1:${sentinel.port}`,
        REDIS_SENTINEL_MASTER: group,
        MYSQL_URL: db.appUrl,
        CONSUMER_METRICS_PORT: '1',
        CONSUMER_REDIS_WAIT_TIMEOUT_MS: '300',
        TOPIC_PARTITIONS: '1',
        LOG_LEVEL: 'warn',
      }),
      createRegistry('consumer'),
      log,
    );
    base = (await advanceSource(db.admin, 3)) - 3n;
    await producer.send([purchase(1)]);
    await eventually(
      'change 1 on the replica',
      () => versionOn(replica, 1),
      (v) => v === versionOf(base + 1n, 0),
    );

    // Change 1 confirmed and committed (its WAIT may have been retried on a loaded machine): the
    // consumer is past it before the replica stops, so change 2 is the batch that cannot be confirmed.
    await eventually(
      'change 1 committed',
      async () => (await admin.consumerLag(`${prefix}.consumer`, [topic])).map((p) => Number(p.lag)),
      (lags) => lags.length === 1 && lags[0] === 0,
      30_000,
    );
    // The replica stops taking the stream; the master takes change 2 (and acknowledges it).
    replica.pause();
    await producer.send([purchase(2)]);
    await eventually(
      'change 2 on the master',
      () => versionOn(master, 2),
      (v) => v === versionOf(base + 2n, 0),
    );
    await new Promise((r) => setTimeout(r, 1000)); // time enough to commit, had it not waited
    // The master crashes; the replica, which never got change 2, is promoted.
    await master.kill();
    replica.resume();
    await eventually('the replica promoted', sentinelMaster, (port) => port === String(replica.port), 30_000);
    // Change 2 was never committed, so it is applied again on the new master.
    await eventually(
      'change 2 on the new master',
      () => versionOn(replica, 2),
      (v) => v === versionOf(base + 2n, 0),
      30_000,
    );
    await producer.send([purchase(3)]);
    await eventually(
      'change 3 on the new master',
      () => versionOn(replica, 3),
      (v) => v === versionOf(base + 3n, 0),
      30_000,
    );
    expect(await replica.probe.exists(keys.ready(0))).toBe(1);
    await eventually(
      'offsets committed to the end',
      async () => (await admin.consumerLag(`${prefix}.consumer`, [topic])).map((p) => Number(p.lag)),
      (lags) => lags.length === 1 && lags[0] === 0,
      30_000,
    );
  }, 90_000);
});
