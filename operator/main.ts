import { KubeConfig } from '@kubernetes/client-node';
import { parseEnv } from '../runtime/core/config/env.ts';
import { Lifecycle } from '../runtime/core/lifecycle.ts';
import { createLogger } from '../runtime/core/logger.ts';
import { createRegistry, startOpsServer } from '../runtime/core/metrics.ts';
import { operatorEnv } from './config.ts';
import { type ChildKind, Controller } from './controller.ts';
import { EventRecorder } from './events.ts';
import { ClusterEvents, ClusterLeases, ClusterWriter, listWatch } from './kube/cluster.ts';
import { KubeHttp } from './kube/http.ts';
import { RESOURCES } from './kube/resources.ts';
import { MANAGED_BY_SELECTOR } from './labels.ts';
import { LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';

// Wiring only: configuration, clients, leader election, the controller and the ops server.
const env = parseEnv(operatorEnv, process.env);
const log = createLogger('operator', env.LOG_LEVEL);
const lifecycle = new Lifecycle(log, env.SHUTDOWN_TIMEOUT_SECONDS * 1000);
lifecycle.installSignalHandlers();

const kc = new KubeConfig();
kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster service account
const http = new KubeHttp(kc);
const registry = createRegistry('operator');
const metrics = createOperatorMetrics(registry);
const scope = { namespace: env.WATCH_NAMESPACE };
const children = (kind: ChildKind) =>
  listWatch(kc, http, RESOURCES[kind], { ...scope, labelSelector: MANAGED_BY_SELECTOR });

let controller: Controller | undefined;
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
    });
    controller.start().catch((err: unknown) => {
      log.fatal({ err }, 'controller failed to start');
      process.exit(1);
    });
  },
  onStoppedLeading: () => {
    metrics.leader.set(0);
    if (lifecycle.isStopping) return;
    // Leadership lost while running: exit so that a fresh process (restarted by the Deployment)
    // campaigns again with empty caches, instead of risking two actors.
    log.fatal('lost leadership: exiting');
    process.exit(1);
  },
});

const ops = await startOpsServer({
  registry,
  port: env.OPS_PORT,
  host: env.OPS_HOST,
  ready: () => true,
});
elector.start();
log.info(
  { identity: env.POD_NAME, namespace: env.WATCH_NAMESPACE ?? '(all)', opsPort: env.OPS_PORT },
  'operator started',
);

lifecycle.onShutdown('controller', async () => {
  await controller?.stop();
});
lifecycle.onShutdown('leader election', () => elector.stop());
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));
