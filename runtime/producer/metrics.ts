import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type ProducerMetrics = ReturnType<typeof createProducerMetrics>;

export function createProducerMetrics(registry: Registry) {
  const registers = [registry];
  // Read at scrape time from the running service (main.ts wires it once the service exists).
  let streaming: () => boolean = () => false;
  return {
    streaming: new Gauge({
      name: 'producer_streaming',
      help: '1 while the binlog stream is open (the producer is ready); 0 while it waits for the lock, snapshots or reconnects',
      registers,
      collect() {
        this.set(streaming() ? 1 : 0);
      },
    }),
    reportStreaming(read: () => boolean) {
      streaming = read;
    },
    events: new Counter({
      name: 'producer_events_total',
      help: 'Row change events acknowledged by Kafka, by table and op',
      labelNames: ['db', 'table', 'op'] as const,
      registers,
    }),
    secondsBehindSource: new Gauge({
      name: 'producer_seconds_behind_source',
      help: 'Age of the newest acknowledged transaction; 0 when caught up with the source',
      registers,
    }),
    binlogPosition: new Gauge({
      name: 'producer_binlog_position',
      help: 'Binlog offset of the last acknowledged checkpoint (file in the label)',
      labelNames: ['file'] as const,
      registers,
    }),
    gtidSequence: new Gauge({
      name: 'producer_gtid_sequence',
      help: 'Source sequence of the last fully acknowledged transaction (MariaDB: its GTID sequence number; MySQL: the transactions in the GTID set)',
      registers,
    }),
    sendSeconds: new Histogram({
      name: 'producer_kafka_send_seconds',
      help: 'Duration of one Kafka transaction (events + checkpoint) until acknowledged',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    commitToAckSeconds: new Histogram({
      name: 'producer_commit_to_ack_seconds',
      help: 'Source commit timestamp (second resolution) to Kafka acknowledgement',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    sendFailures: new Counter({
      name: 'producer_kafka_send_failures_total',
      help: 'Kafka transactions that failed and were retried',
      registers,
    }),
    failuresInARow: new Gauge({
      name: 'producer_kafka_send_failures_in_a_row',
      help: 'Kafka transactions failed in a row for the current batch (0 after a success)',
      registers,
    }),
    publishStalled: new Gauge({
      name: 'producer_publish_stalled',
      help: '1 while the producer cannot make progress (Kafka transactions keep failing); /readyz is 503 then',
      registers,
    }),
    oversizedEvents: new Counter({
      name: 'producer_oversized_events_total',
      help: 'Change events larger than the Kafka limit, published as a reference in <prefix>.__oversized',
      labelNames: ['topic'] as const,
      registers,
    }),
    queuedRecords: new Gauge({
      name: 'producer_queued_records',
      help: 'Records read from the binlog and waiting for Kafka',
      registers,
    }),
    readerPaused: new Gauge({
      name: 'producer_reader_paused',
      help: '1 while binlog reading is paused because Kafka is behind',
      registers,
    }),
    reconnects: new Counter({
      name: 'producer_binlog_reconnects_total',
      help: 'Binlog stream restarts after an error',
      registers,
    }),
    snapshotRows: new Counter({
      name: 'producer_snapshot_rows_total',
      help: 'Rows published by the initial snapshot',
      labelNames: ['db', 'table'] as const,
      registers,
    }),
    snapshotProgress: new Gauge({
      name: 'producer_snapshot_progress_ratio',
      help: 'Snapshot progress per table (rows done / rows estimated)',
      labelNames: ['db', 'table'] as const,
      registers,
    }),
    lockHeld: new Gauge({
      name: 'producer_lock_held',
      help: '1 while this instance holds the pipeline lock (is the active producer)',
      registers,
    }),
  };
}
