/**
 * The baseline of the pipeline benches: one bare Kafka hop, a record produced (acks=all, idempotent) and
 * consumed by a group member on the same broker, at a steady rate.
 *
 * Usage (a child process, e.g. inside the bench's network namespace):
 *   KAFKA_BROKERS=… node bench/pipeline/hop.ts <topic prefix> [rate=1000] [seconds=10]
 * prints the Summary as JSON on its last line.
 */
import {
  createDurableProducer,
  createGroupConsumer,
  createKafkaAdmin,
} from '../../runtime/core/kafka/index.ts';
import { paced, type Summary, summarise } from '../e2e/stats.ts';

const MAX_IN_FLIGHT = 64;

export async function kafkaHop(
  brokers: string[],
  prefix: string,
  rate: number,
  duration: number,
): Promise<Summary> {
  const conn = { brokers, clientId: `${prefix}-hop` };
  const topic = `${prefix}.bench.hop`;
  const kafkaAdmin = createKafkaAdmin(conn);
  await kafkaAdmin.ensureTopics([{ name: topic, partitions: 1, replicationFactor: 1 }]);
  await kafkaAdmin.close();
  const producer = createDurableProducer(conn);
  const consumer = createGroupConsumer({
    ...conn,
    groupId: `${prefix}.hop`,
    startWhenNoOffsets: 'latest',
  });
  const sentAt = new Map<number, number>();
  const samples: number[] = [];
  try {
    await producer.send([{ topic, key: 'warmup', value: '-1' }]);
    const stream = await consumer.consume([topic]);
    let warm = false;
    const reading = (async () => {
      for await (const m of stream) {
        const i = Number(m.value);
        if (i < 0) warm = true;
        const t = sentAt.get(i);
        if (t !== undefined) {
          samples.push(performance.now() - t);
          sentAt.delete(i);
        }
        if (i === -2) return;
      }
    })();
    while (!warm) {
      await producer.send([{ topic, key: 'warmup', value: '-1' }]);
      await new Promise((r) => setTimeout(r, 200));
    }
    await paced(rate, duration, MAX_IN_FLIGHT, async (i) => {
      sentAt.set(i, performance.now());
      await producer.send([{ topic, key: String(i % 4000), value: String(i) }]);
    });
    await producer.send([{ topic, key: 'end', value: '-2' }]);
    await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
    return summarise(samples);
  } finally {
    await consumer.close();
    await producer.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [prefix, rate, seconds] = process.argv.slice(2);
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
  if (!prefix || brokers.length === 0) {
    process.stderr.write('usage: KAFKA_BROKERS=… hop.ts <topic prefix> [rate] [seconds]\n');
    process.exit(2);
  }
  const summary = await kafkaHop(brokers, prefix, Number(rate ?? '1000'), Number(seconds ?? '10'));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}
