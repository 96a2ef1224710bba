import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../runtime/core/logger.ts';
import type { OperatorEnv } from './config.ts';
import { type ChildKind, Controller } from './controller.ts';
import { createDuties } from './duty-factory.ts';
import { EventRecorder } from './events.ts';
import { ClusterEvents, ClusterLeases, ClusterWriter, listWatch } from './kube/cluster.ts';
import { KubeHttp } from './kube/http.ts';
import { RESOURCES, type Resource } from './kube/resources.ts';
import { MANAGED_BY_SELECTOR } from './labels.ts';
import { LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import type { PaymentPipeline } from './reconciler.ts';

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
  // One list+watch per watched namespace (namespaced RBAC grants no cluster-wide list), or one for all.
  const namespaces = env.WATCH_NAMESPACE.length > 0 ? env.WATCH_NAMESPACE : [undefined];
  const sources = <T extends KubernetesObject>(resource: Resource, labelSelector?: string) =>
    namespaces.map((namespace) =>
      listWatch<T>(kc, http, resource, {
        ...(namespace ? { namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        watchTimeoutSeconds: env.WATCH_TIMEOUT_SECONDS,
      }),
    );
  const children = (kind: ChildKind) => sources(RESOURCES[kind], MANAGED_BY_SELECTOR);
  const policy = { images: env.ALLOWED_IMAGES, mysqlHosts: env.ALLOWED_MYSQL_HOSTS };
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
        pipelines: sources<PaymentPipeline>(RESOURCES.PaymentPipeline),
        children: {
          Deployment: children('Deployment'),
          ConfigMap: children('ConfigMap'),
          Service: children('Service'),
          PodDisruptionBudget: children('PodDisruptionBudget'),
          NetworkPolicy: children('NetworkPolicy'),
        },
        pods: sources<V1Pod>(RESOURCES.Pod, MANAGED_BY_SELECTOR),
        writer: new ClusterWriter(http),
        events: new EventRecorder({ sink: new ClusterEvents(http), log, instance: env.POD_NAME }),
        log,
        metrics,
        workers: env.RECONCILE_WORKERS,
        resyncMs: env.RESYNC_SECONDS * 1000,
        duties,
        policy,
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
