import { z } from 'zod';
import { camelConfig, type Env, parseEnv } from '../core/config/env.ts';
import {
  csvList,
  kafkaBrokers,
  logLevel,
  mysqlUrl,
  nonNegativeInt,
  port,
  positiveInt,
  sqlIdentifier,
  topicPrefix,
} from '../core/config/fields.ts';
import { kafkaSecurityFields, kafkaSecurityOf, kafkaSecurityRule } from '../core/config/kafka-security.ts';
import { parseStartFrom, type StartFrom } from './start-from.ts';

/** `db.table` or `table` (any database in PRODUCER_DATABASES). */
const tableRef = z.string().regex(/^([A-Za-z0-9_]{1,64}\.)?[A-Za-z0-9_]{1,64}$/, 'table or database.table');

export const producerEnvSchema = z
  .object({
    MYSQL_CDC_URL: mysqlUrl,
    /** Databases to capture; defaults to the database of MYSQL_CDC_URL. */
    PRODUCER_DATABASES: csvList.pipe(z.array(sqlIdentifier)).optional(),
    /** Tables to capture (table or db.table); empty = every table of the databases. */
    PRODUCER_TABLES: csvList.pipe(z.array(tableRef)).optional(),
    PRODUCER_OPS: csvList.pipe(z.array(z.enum(['c', 'u', 'd']))).default(['c', 'u', 'd']),
    KAFKA_BROKERS: kafkaBrokers,
    ...kafkaSecurityFields,
    TOPIC_PREFIX: topicPrefix,
    TOPIC_PARTITIONS: positiveInt.max(1000).default(6),
    TOPIC_REPLICATION_FACTOR: positiveInt.max(7).default(1),
    /** server_id this producer announces to the source as a replica; unique among its replicas. */
    PRODUCER_SERVER_ID: positiveInt.max(4294967295),
    /** Logical name of the pipeline: source.name, lock name, checkpoint key, transactional.id. */
    PRODUCER_NAME: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/)
      .optional(),
    START_FROM: z.string().default('latest'),
    SNAPSHOT_MODE: z.enum(['initial', 'never', 'when_needed']).default('never'),
    SNAPSHOT_CHUNK_ROWS: positiveInt.max(1_000_000).default(5000),
    /** Max records per produce request (a transaction takes the backlog up to half the queue bound), and the lingering time below that. */
    PRODUCER_BATCH_RECORDS: positiveInt.max(100_000).default(5000),
    PRODUCER_LINGER_MS: nonNegativeInt.max(10_000).default(5),
    /** Binlog reading pauses while this many records wait for Kafka (bounded memory). */
    PRODUCER_MAX_QUEUED_RECORDS: positiveInt.min(100).max(1_000_000).default(50_000),
    /** How long a second instance waits for the pipeline lock per attempt before logging and retrying. */
    PRODUCER_LOCK_WAIT_SECONDS: positiveInt.max(3600).default(10),
    PRODUCER_METRICS_PORT: port.default(9464),
    PRODUCER_METRICS_HOST: z.string().default('127.0.0.1'),
    LOG_LEVEL: logLevel.default('info'),
  })
  .superRefine(...kafkaSecurityRule())
  .transform((env, ctx) => {
    const startFrom = parseStartFrom(env.START_FROM);
    if (typeof startFrom === 'string') {
      ctx.addIssue({ code: 'custom', path: ['START_FROM'], message: startFrom });
      return z.NEVER;
    }
    const cdcDb = new URL(env.MYSQL_CDC_URL).pathname.replace(/^\//, '');
    const databases = env.PRODUCER_DATABASES ?? (cdcDb ? [cdcDb] : []);
    if (databases.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['PRODUCER_DATABASES'],
        message: 'set PRODUCER_DATABASES or put a database in MYSQL_CDC_URL',
      });
      return z.NEVER;
    }
    // The variables the code reads under another name or derived; the rest come out by their own
    // names in camelCase (PRODUCER_BATCH_RECORDS → batchRecords, SNAPSHOT_MODE → snapshotMode).
    const {
      MYSQL_CDC_URL,
      KAFKA_BROKERS,
      TOPIC_PARTITIONS,
      TOPIC_REPLICATION_FACTOR,
      PRODUCER_DATABASES: _databases,
      PRODUCER_TABLES,
      PRODUCER_NAME,
      START_FROM: _startFrom,
      PRODUCER_LOCK_WAIT_SECONDS,
      ...rest
    } = env;
    return {
      ...camelConfig(rest, 'PRODUCER_'),
      mysqlUrl: MYSQL_CDC_URL,
      databases,
      tables: PRODUCER_TABLES ?? [],
      brokers: KAFKA_BROKERS,
      security: kafkaSecurityOf(env),
      partitions: TOPIC_PARTITIONS,
      replicationFactor: TOPIC_REPLICATION_FACTOR,
      name: PRODUCER_NAME ?? env.TOPIC_PREFIX,
      // Milliseconds like every other duration in the producer; the variable keeps its seconds.
      lockWaitMs: PRODUCER_LOCK_WAIT_SECONDS * 1000,
      startFrom: startFrom satisfies StartFrom,
    };
  });

export type ProducerConfig = z.output<typeof producerEnvSchema>;

export function loadProducerConfig(env: Env = process.env): ProducerConfig {
  return parseEnv(producerEnvSchema, env);
}

/** Whether a table is captured under the database/table filters. */
export function tableSelected(
  cfg: Pick<ProducerConfig, 'databases' | 'tables'>,
  db: string,
  table: string,
): boolean {
  if (!cfg.databases.includes(db)) return false;
  if (cfg.tables.length === 0) return true;
  return cfg.tables.includes(table) || cfg.tables.includes(`${db}.${table}`);
}
