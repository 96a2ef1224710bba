import type { KafkaAdmin } from '../core/kafka/index.ts';
import type { Logger } from '../core/logger.ts';
import type { ConsumerMetrics } from './metrics.ts';

/** Polls the group's lag per partition into the `consumer_lag` gauge. */
export function startLagMonitor(opts: {
  admin: KafkaAdmin;
  group: string;
  topics: string[];
  metrics: ConsumerMetrics;
  log: Logger;
  intervalMs?: number;
}): { stop: () => void } {
  let running = false;
  const poll = async () => {
    if (running) return;
    running = true;
    try {
      for (const p of await opts.admin.consumerLag(opts.group, opts.topics)) {
        opts.metrics.lag.set({ topic: p.topic, partition: String(p.partition) }, Number(p.lag));
      }
    } catch (err) {
      opts.log.warn({ err }, 'could not read consumer lag');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(poll, opts.intervalMs ?? 5000);
  timer.unref();
  void poll();
  return { stop: () => clearInterval(timer) };
}
