// Durable-write benchmark of the two Kafka clients against the real broker, in one run:
// acks=all + idempotent producer, and the same through transactions (one transaction per batch,
// the way the producer commits events + checkpoint). Same message sizes, keys and batch sizes.
//
//   KAFKA_BROKERS=127.0.0.1:29092 node bench/kafka-client/bench.ts [messages] [batch] [bytes]
import { randomUUID } from 'node:crypto';
import {
  Admin,
  compatibilityPartitioner,
  ProduceAcks,
  Producer,
  stringSerializers,
} from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:29092').split(',');
const total = Number(process.argv[2] ?? 20_000);
const batchSize = Number(process.argv[3] ?? 500);
const valueBytes = Number(process.argv[4] ?? 512);
const partitions = 6;

type Batch = { key: string; value: string }[];
type Sender = { send: (batch: Batch) => Promise<void>; close: () => Promise<void> };

function batches(): Batch[] {
  const filler = 'x'.repeat(valueBytes);
  const out: Batch[] = [];
  for (let i = 0; i < total; i += batchSize) {
    const b: Batch = [];
    for (let j = i; j < Math.min(total, i + batchSize); j++) {
      b.push({ key: JSON.stringify({ id: `pur_${j % 5000}` }), value: filler });
    }
    out.push(b);
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function platformatic(topic: string, transactional: boolean): Promise<Sender> {
  const producer = new Producer({
    clientId: `bench-plt-${randomUUID()}`,
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    partitioner: compatibilityPartitioner,
    // The default 1 s retry delay dominates transactions: the coordinator answers the next
    // AddPartitions with CONCURRENT_TRANSACTIONS until the previous commit's markers are written.
    retries: 20,
    retryDelay: 20,
    ...(transactional ? { transactionalId: `bench-plt-${randomUUID()}` } : {}),
  });
  return {
    async send(batch) {
      const messages = batch.map((m) => ({ topic, key: m.key, value: m.value }));
      if (!transactional) {
        await producer.send({ messages });
        return;
      }
      const tx = await producer.beginTransaction();
      try {
        await tx.send({ messages });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    },
    close: () => producer.close(),
  };
}

async function kafkajs(topic: string, transactional: boolean): Promise<Sender> {
  const kafka = new Kafka({ clientId: `bench-kjs-${randomUUID()}`, brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    ...(transactional ? { transactionalId: `bench-kjs-${randomUUID()}` } : {}),
  });
  await producer.connect();
  return {
    async send(batch) {
      if (!transactional) {
        await producer.send({ topic, acks: -1, messages: batch });
        return;
      }
      const tx = await producer.transaction();
      try {
        await tx.send({ topic, acks: -1, messages: batch });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    },
    close: () => producer.disconnect(),
  };
}

async function run(name: string, make: (topic: string) => Promise<Sender>, admin: Admin): Promise<void> {
  const topic = `bench.kafka-client.${randomUUID()}`;
  await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  const sender = await make(topic);
  try {
    const work = batches();
    await sender.send(work[0] ?? []); // warm-up: connections, metadata, producer id
    const latencies: number[] = [];
    const started = performance.now();
    for (const b of work) {
      const t0 = performance.now();
      await sender.send(b);
      latencies.push(performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        client: name,
        messages: total,
        batch: batchSize,
        bytes: valueBytes,
        msgPerSec: Math.round(total / seconds),
        batchMsP50: Number(percentile(latencies, 50).toFixed(1)),
        batchMsP99: Number(percentile(latencies, 99).toFixed(1)),
      }),
    );
  } finally {
    await sender.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  }
}

const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers });
try {
  await run('kafkajs idempotent', (t) => kafkajs(t, false), admin);
  await run('@platformatic/kafka idempotent', (t) => platformatic(t, false), admin);
  await run('kafkajs transactional', (t) => kafkajs(t, true), admin);
  await run('@platformatic/kafka transactional', (t) => platformatic(t, true), admin);
} finally {
  await admin.close();
}
