// Producer entry point: configuration, logging, metrics, graceful shutdown; the work is in service.ts.
import { loadConfig } from '../core/config/env.ts';
import { accessErrorMessage, isAccessError } from '../core/kafka/index.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createRegistry, startOpsServer } from '../core/metrics.ts';
import { loadProducerConfig } from './config.ts';
import { createProducerMetrics } from './metrics.ts';
import { startProducer } from './service.ts';

const cfg = loadConfig('producer', loadProducerConfig);

const log = createLogger('producer', cfg.logLevel);
const registry = createRegistry('producer');
const metrics = createProducerMetrics(registry);
metrics.reportStreaming(() => running?.isReady() ?? false);
const lifecycle = new Lifecycle(log);
const abort = new AbortController();
let running: Awaited<ReturnType<typeof startProducer>> | undefined;

const ops = await startOpsServer({
  registry,
  port: cfg.metricsPort,
  host: cfg.metricsHost,
  ready: () => running?.readiness() ?? { ready: false, reason: 'starting' },
});
lifecycle.onShutdown('producer', async () => {
  abort.abort();
  await running?.stop();
});
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));
lifecycle.installSignalHandlers();

try {
  running = await startProducer(cfg, { log, metrics, signal: abort.signal });
  await running.done;
} catch (err) {
  if (!lifecycle.isStopping) {
    log.fatal(
      { err },
      isAccessError(err)
        ? accessErrorMessage(err, `user ${cfg.security.sasl?.username ?? '(none)'}`)
        : 'producer stopped',
    );
    await new Promise<void>((resolve) => ops.close(() => resolve()));
    process.exit(1);
  }
}
