import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;

export function consumerMetrics(registry: Registry) {
  return {
    messages: new Counter({
      name: 'consumer_messages_total',
      help: 'Messages handled, by topic and outcome (applied, stale, tombstone, dlq)',
      labelNames: ['topic', 'outcome'],
      registers: [registry],
    }),
    dlq: new Counter({
      name: 'consumer_dlq_messages_total',
      help: 'Messages sent to the dead-letter topic, by source topic',
      labelNames: ['topic'],
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: 'consumer_apply_seconds',
      help: 'Time to apply one batch to Redis (one pipelined round trip)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'consumer_batch_size',
      help: 'Messages per applied batch',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    freshness: new Histogram({
      name: 'consumer_freshness_seconds',
      help:
        'Commit-to-cache freshness: applied in Redis minus the source commit time (from="source", binlog ' +
        'header, whole seconds on MariaDB), the producer emit time (from="producer") or the Kafka record ' +
        'timestamp (from="kafka", set when the producer sent it)',
      labelNames: ['from'],
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'consumer_lag',
      help: 'Consumer-group lag in messages, by topic and partition',
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'consumer_redis_errors_total',
      help: 'Failed batch applies (retried until they succeed)',
      registers: [registry],
    }),
    kafkaConnected: new Gauge({
      name: 'consumer_kafka_connected',
      help: '1 while the consumer is a member of its group and fetching; 0 while it reconnects',
      registers: [registry],
    }),
    kafkaReconnects: new Counter({
      name: 'consumer_kafka_reconnects_total',
      help: 'Times the consumer rejoined Kafka after losing it (the stream failed, e.g. a broker restart)',
      registers: [registry],
    }),
    rebuilds: new Counter({
      name: 'consumer_rebuilds_total',
      help: 'Rebuilds of Redis from MySQL started by the consumer (empty or flushed Redis)',
      registers: [registry],
    }),
    rebuildRunning: new Gauge({
      name: 'consumer_rebuild_running',
      help: '1 while a rebuild of Redis from MySQL started by the consumer runs (reads may fall back to MySQL)',
      registers: [registry],
    }),
  };
}
