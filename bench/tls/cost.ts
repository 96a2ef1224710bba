// What TLS (MySQL) and SASL_SSL (Kafka) cost on the hot paths, against plaintext, in one run:
//  - MySQL: small-query round trips per second through a pool (a row-sized answer, as the api's
//    writes and the consumer's checks read), and the time to open a connection (pool growth, reconnects);
//  - Kafka: records per second acknowledged (acks=all, idempotent; batches as the producer sends them).
// Bounded: a few seconds per case.
//
//   node bench/tls/cost.ts <plaintext stack env> <secure stack env (SECURE=1 make up)>
//   e.g. node bench/tls/cost.ts .local/test-stack.env .local/stack.env
import { readFileSync } from 'node:fs';
import { readStackEnv } from '../../dev/stack-env.ts';
import { createPool } from '../../runtime/core/db/pool.ts';
import {
  createDurableProducer,
  createKafkaAdmin,
  type KafkaSecurity,
} from '../../runtime/core/kafka/index.ts';

const [plainFile, secureFile] = process.argv.slice(2);
if (!plainFile || !secureFile)
  throw new Error('usage: node bench/tls/cost.ts <plaintext env file> <secure env file>');
const plain = readStackEnv(plainFile);
const secure = readStackEnv(secureFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROW = JSON.stringify({
  id: 'pay_x',
  user_id: 'alice',
  amount: 1999,
  currency: 'EUR',
  status: 'succeeded',
}).repeat(2);

async function mysqlReads(url: string): Promise<{ perSec: number; connectMs: number }> {
  const pool = createPool(url, { connectionLimit: 8 });
  try {
    await pool.query('SELECT 1');
    let n = 0;
    const until = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < until) {
          await pool.query('SELECT ? AS id, ? AS row_json', ['pay_01M8T2DCB1DDA5HGJW0TF6PDA9', ROW]);
          n++;
        }
      }),
    );
    return { perSec: n / SECONDS, connectMs: await connectTime(url) };
  } finally {
    await pool.end();
  }
}

async function connectTime(url: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const pool = createPool(url, { connectionLimit: 1 });
    const t = performance.now();
    await pool.query('SELECT 1');
    times.push(performance.now() - t);
    await pool.end();
  }
  times.sort((a, b) => a - b);
  return times[10] ?? 0;
}

async function kafkaRecords(brokers: string[], topic: string, security?: KafkaSecurity): Promise<number> {
  const admin = createKafkaAdmin({ brokers, clientId: 'tls-bench', security });
  await admin.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }]);
  await admin.close();
  const producer = createDurableProducer({ brokers, clientId: 'tls-bench', security });
  const value = JSON.stringify({
    before: null,
    after: { id: 'pay_x', status: 'succeeded', amount: 1999 },
    op: 'c',
  });
  let n = 0;
  try {
    const until = Date.now() + SECONDS * 1000;
    while (Date.now() < until) {
      await producer.send(
        Array.from({ length: 500 }, (_, i) => ({ topic, key: `{"id":"pay_${n + i}"}`, value })),
      );
      n += 500;
    }
  } finally {
    await producer.close();
  }
  const cleanup = createKafkaAdmin({ brokers, clientId: 'tls-bench', security });
  await cleanup.deleteTopics([topic]).catch(() => undefined);
  await cleanup.close();
  return n / SECONDS;
}

const secureKafka: KafkaSecurity = {
  protocol: 'SASL_SSL',
  sasl: {
    mechanism: 'SCRAM-SHA-512',
    username: secure.KAFKA_PRODUCER_USERNAME ?? 'producer',
    password: secure.KAFKA_PRODUCER_PASSWORD ?? '',
  },
  tls: { ca: readFileSync(secure.KAFKA_TLS_CA_FILE ?? '', 'utf8') },
};
const prefix = secure.TOPIC_PREFIX ?? 'payments';
const stamp = Date.now().toString(36);

const rows: [string, string, string][] = [];
for (let round = 0; round < 2; round++) {
  const p = await mysqlReads(plain.MYSQL_URL ?? '');
  const s = await mysqlReads(secure.MYSQL_URL ?? '');
  rows.push(['mysql queries/s (8 conns)', p.perSec.toFixed(0), s.perSec.toFixed(0)]);
  rows.push(['mysql connect ms (median)', p.connectMs.toFixed(2), s.connectMs.toFixed(2)]);
  const kp = await kafkaRecords((plain.KAFKA_BROKERS ?? '').split(','), `tlsbench${stamp}.r${round}.p`);
  const ks = await kafkaRecords(
    (secure.KAFKA_BROKERS ?? '').split(','),
    `${prefix}.tlsbench${stamp}.r${round}`,
    secureKafka,
  );
  rows.push(['kafka records/s acked', kp.toFixed(0), ks.toFixed(0)]);
}
console.log(['case', 'plaintext', 'TLS / SASL_SSL', 'ratio'].join('\t'));
for (const [name, p, s] of rows) console.log([name, p, s, (Number(s) / Number(p)).toFixed(2)].join('\t'));
