import { loadConfig } from '../core/config/env.ts';
import { Lifecycle } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createRegistry, startOpsServer } from '../core/metrics.ts';
import { loadConsumerConfig } from './config.ts';
import { startConsumerService } from './service.ts';

// Payment Consumer entry point: wiring only (config → metrics server → service → shutdown hooks).
const config = loadConfig('consumer', loadConsumerConfig);
const log = createLogger('consumer', config.logLevel);
const lifecycle = new Lifecycle(log);
lifecycle.installSignalHandlers();
const registry = createRegistry('consumer');
let service: Awaited<ReturnType<typeof startConsumerService>> | undefined;
const ops = await startOpsServer({
  registry,
  port: config.metricsPort,
  host: config.metricsHost,
  ready: () =>
    service?.ready() ?? { ready: false, reason: 'starting (joining Kafka, rebuilding an empty Redis)' },
});
lifecycle.onShutdown('consumer', () => service?.stop());
lifecycle.onShutdown('ops server', () => new Promise<void>((resolve) => ops.close(() => resolve())));
try {
  service = await startConsumerService(config, registry, log);
} catch (err) {
  log.fatal({ err }, 'consumer failed to start');
  await lifecycle.shutdown().catch(() => undefined);
  process.exit(1);
}
const failure = await service.failed;
if (failure !== undefined && !lifecycle.isStopping) {
  log.fatal({ err: failure }, 'consuming stopped unexpectedly');
  await lifecycle.shutdown().catch(() => undefined);
  process.exit(1);
}
