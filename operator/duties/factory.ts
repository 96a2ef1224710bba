import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import type { OperatorConfig } from '../config.ts';
import { selectorLabels } from '../controller/labels.ts';
import type { KubeReader } from '../framework/kube/ports.ts';
import { consumerGroupOf, createAutoscalingDuty } from './autoscaler/duty.ts';
import { createLagSource } from './autoscaler/lag-reader.ts';
import { createAutoscalerMetrics } from './autoscaler/metrics.ts';
import { kafkaCheckpointStore } from './binlog/checkpoint-store.ts';
import { createBinlogDuty } from './binlog/duty.ts';
import { createBinlogMetrics } from './binlog/metrics.ts';
import { createSourcePools } from './binlog/source-pools.ts';

export type Duties = {
  autoscaler?: ReturnType<typeof createAutoscalingDuty>;
  binlog?: ReturnType<typeof createBinlogDuty>;
  intervalMs: number;
  close: () => Promise<void>;
};

/**
 * Builds the duties OPERATOR_DUTIES turns on, with their ports to the outside: Kafka admin clients
 * for lag, the pipeline's credentials Secret and source pool for binlog positions, and a pod list
 * to confirm the producer is gone.
 */
export function createDuties(config: OperatorConfig, kube: KubeReader, registry: Registry): Duties {
  const closers: (() => Promise<void>)[] = [];
  const security = config.kafkaSecurity;
  const duties: Duties = {
    intervalMs: config.autoscaleIntervalMs,
    close: async () => {
      await Promise.allSettled(closers.map((c) => c()));
    },
  };
  if (config.duties.includes('autoscaler')) {
    const lag = createLagSource(
      (brokers) => createKafkaAdmin({ brokers, clientId: 'payment-pipeline-operator', security }),
      consumerGroupOf,
    );
    closers.push(lag.close);
    duties.autoscaler = createAutoscalingDuty({
      lagOf: lag.lagOf,
      metrics: createAutoscalerMetrics(registry),
      activationLag: config.autoscaleActivationLag,
    });
  }
  if (config.duties.includes('binlog')) {
    const pools = createSourcePools(async (ns, name) => {
      const secret = await kube.get<V1Secret>('Secret', ns, name);
      if (!secret) throw new Error(`Secret ${ns}/${name} not found`);
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    });
    closers.push(pools.close);
    const binlog = createBinlogDuty({
      source: pools.poolFor,
      checkpoints: (spec) => kafkaCheckpointStore(spec, Date.now, security),
      producerPods: async (key) =>
        (await kube.list('Pod', key.namespace, selectorLabels(key.name, 'producer'))).length,
      metrics: createBinlogMetrics(registry),
      refreshMs: config.positionRefreshMs,
    });
    duties.binlog = {
      ...binlog,
      forget: (key) => {
        binlog.forget(key);
        void pools.forget(key);
      },
    };
  }
  return duties;
}
