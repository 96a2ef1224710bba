import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../runtime/core/config/env.ts';
import { Lifecycle } from '../runtime/core/lifecycle.ts';
import { createLogger } from '../runtime/core/logger.ts';
import { createRegistry, startOpsServer } from '../runtime/core/metrics.ts';
import { createOperator } from './app.ts';
import { loadOperatorConfig } from './config.ts';

// Wiring only: configuration, the ops server, the operator replica and graceful shutdown.
const env = loadConfig('operator', loadOperatorConfig);
const log = createLogger('operator', env.LOG_LEVEL);
const lifecycle = new Lifecycle(log, env.SHUTDOWN_TIMEOUT_SECONDS * 1000);
lifecycle.installSignalHandlers();

const kc = new KubeConfig();
kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster service account
const registry = createRegistry('operator');
const ops = await startOpsServer({ registry, port: env.OPS_PORT, host: env.OPS_HOST, ready: () => true });
const operator = createOperator({
  env,
  kc,
  log,
  registry,
  // Leadership lost while running: exit, so that a fresh process (restarted by the Deployment)
  // campaigns again with empty caches instead of risking two actors.
  onLostLeadership: () => {
    log.fatal('lost leadership: exiting');
    process.exit(1);
  },
});
log.info(
  {
    identity: env.POD_NAME,
    namespaces: env.WATCH_NAMESPACE.length > 0 ? env.WATCH_NAMESPACE : '(all)',
    opsPort: env.OPS_PORT,
  },
  'operator started',
);

lifecycle.onShutdown('operator', () => operator.stop());
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));
