import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../runtime/core/logger.ts';
import type { OperatorConfig } from './config.ts';
import { Controller, type ControllerOptions } from './controller/controller.ts';
import { FIELD_MANAGER, REPORTING_CONTROLLER } from './controller/labels.ts';
import { createOperatorMetrics } from './controller/metrics.ts';
import { RESOURCES } from './controller/resources.ts';
import { clusterSources } from './controller/sources.ts';
import { createDuties } from './duties/factory.ts';
import { EventRecorder } from './framework/events.ts';
import { ClusterEvents, ClusterLeases, ClusterReader, ClusterWriter } from './framework/kube/cluster.ts';
import { KubeHttp } from './framework/kube/http.ts';
import { LeaderElector } from './framework/leader.ts';

export type Operator = {
  elector: LeaderElector;
  /** Stops reconciling, then releases the lease. */
  stop(): Promise<void>;
};

/**
 * Wires one operator replica: the API server ports, the duties and the controller's options are
 * built once; leader election starts a controller with them while this replica leads. Used by
 * main.ts and by the tests against the real API server.
 */
export function createOperator(opts: {
  config: OperatorConfig;
  kc: KubeConfig;
  log: Logger;
  registry: Registry;
  /** Called when leadership is lost while running (main.ts exits the process). */
  onLostLeadership: () => void;
}): Operator {
  const { config, kc, log } = opts;
  const http = new KubeHttp(kc);
  const metrics = createOperatorMetrics(opts.registry);
  // Created once per process (their metrics live in the registry); used only while leading.
  const duties = createDuties(config, new ClusterReader(http, RESOURCES), opts.registry);
  const options: ControllerOptions = {
    ...clusterSources(kc, http, {
      namespaces: config.watchNamespace,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
    }),
    writer: new ClusterWriter(http, { fieldManager: FIELD_MANAGER, resources: RESOURCES }),
    events: new EventRecorder({
      sink: new ClusterEvents(http),
      log,
      controller: REPORTING_CONTROLLER,
      instance: config.podName,
    }),
    log,
    metrics,
    workers: config.reconcileWorkers,
    resyncMs: config.resyncMs,
    duties,
    policy: { images: config.allowedImages, mysqlHosts: config.allowedMysqlHosts },
  };
  let controller: Controller | undefined;
  let stopping = false;
  const stopController = async () => {
    const c = controller;
    controller = undefined;
    await c?.stop();
  };

  const elector = new LeaderElector({
    store: new ClusterLeases(http),
    namespace: config.leaderElectionNamespace,
    name: config.leaderElectionName,
    identity: config.podName,
    log,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    onStartedLeading: () => {
      metrics.leader.set(1);
      controller = new Controller(options);
      controller.start().catch((err: unknown) => {
        log.error({ err }, 'controller failed to start');
        opts.onLostLeadership();
      });
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      void stopController();
      if (!stopping) opts.onLostLeadership();
    },
  });
  elector.start();

  return {
    elector,
    async stop() {
      stopping = true;
      await stopController();
      await elector.stop();
      await duties.close();
    },
  };
}
