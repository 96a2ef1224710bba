import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../runtime/core/logger.ts';
import type { OperatorEnv } from './config.ts';
import { type ChildKind, Controller } from './controller.ts';
import { createDuties } from './duty-factory.ts';
import { EventRecorder } from './events.ts';
import { ClusterEvents, ClusterLeases, ClusterWriter, listWatch } from './kube/cluster.ts';
import { KubeHttp } from './kube/http.ts';
import { RESOURCES } from './kube/resources.ts';
import { MANAGED_BY_SELECTOR } from './labels.ts';
import { LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';

export type Operator = {
  elector: LeaderElector;
  /** Stops reconciling, then releases the lease. */
  stop(): Promise<void>;
};

/**
 * Assembles one operator replica: leader election, and — only while leading — the informers, queue
 * and workers. Used by main.ts and by the tests against the real API server.
 */
export function createOperator(opts: {
  env: OperatorEnv;
  kc: KubeConfig;
  log: Logger;
  registry: Registry;
  /** Called when leadership is lost while running (main.ts exits the process). */
  onLostLeadership: () => void;
}): Operator {
  const { env, kc, log } = opts;
  const http = new KubeHttp(kc);
  const metrics = createOperatorMetrics(opts.registry);
  // Created once per process (their metrics live in the registry); used only while leading.
  const duties = createDuties(env, http, opts.registry);
  const scope = { namespace: env.WATCH_NAMESPACE, watchTimeoutSeconds: env.WATCH_TIMEOUT_SECONDS };
  const children = (kind: ChildKind) =>
    listWatch(kc, http, RESOURCES[kind], { ...scope, labelSelector: MANAGED_BY_SELECTOR });
  let controller: Controller | undefined;
  let stopping = false;

  const elector = new LeaderElector({
    store: new ClusterLeases(http),
    namespace: env.LEADER_ELECTION_NAMESPACE,
    name: env.LEADER_ELECTION_NAME,
    identity: env.POD_NAME,
    log,
    leaseDurationMs: env.LEASE_DURATION_SECONDS * 1000,
    renewDeadlineMs: env.RENEW_DEADLINE_SECONDS * 1000,
    retryPeriodMs: env.RETRY_PERIOD_SECONDS * 1000,
    onStartedLeading: () => {
      metrics.leader.set(1);
      controller = new Controller({
        pipelines: listWatch(kc, http, RESOURCES.PaymentPipeline, scope),
        children: {
          Deployment: children('Deployment'),
          ConfigMap: children('ConfigMap'),
          Service: children('Service'),
          PodDisruptionBudget: children('PodDisruptionBudget'),
        },
        writer: new ClusterWriter(http),
        events: new EventRecorder({ sink: new ClusterEvents(http), log, instance: env.POD_NAME }),
        log,
        metrics,
        workers: env.RECONCILE_WORKERS,
        resyncMs: env.RESYNC_SECONDS * 1000,
        duties,
      });
      controller.start().catch((err: unknown) => {
        log.error({ err }, 'controller failed to start');
        opts.onLostLeadership();
      });
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      const c = controller;
      controller = undefined;
      void c?.stop();
      if (!stopping) opts.onLostLeadership();
    },
  });
  elector.start();

  return {
    elector,
    async stop() {
      stopping = true;
      const c = controller;
      controller = undefined;
      await c?.stop();
      await elector.stop();
      await duties.close();
    },
  };
}
