import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../runtime/core/config/env.ts';
import { Lifecycle } from '../runtime/core/lifecycle.ts';
import { createLogger } from '../runtime/core/logger.ts';
import { createRegistry, startOpsServer } from '../runtime/core/metrics.ts';
import { createOperator } from './app.ts';
import { loadOperatorConfig } from './config.ts';

// Wiring only: configuration, the ops server, the operator replica and graceful shutdown.
const config = loadConfig('operator', loadOperatorConfig);
const log = createLogger('operator', config.logLevel);
const lifecycle = new Lifecycle(log, config.shutdownTimeoutMs);
lifecycle.installSignalHandlers();

const kc = new KubeConfig();
kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster service account
const registry = createRegistry('operator');
const ops = await startOpsServer({ registry, port: config.opsPort, host: config.opsHost, ready: () => true });
const operator = createOperator({
  config,
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
    identity: config.podName,
    namespaces: config.watchNamespace.length > 0 ? config.watchNamespace : '(all)',
    opsPort: config.opsPort,
  },
  'operator started',
);

lifecycle.onShutdown('operator', () => operator.stop());
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));
