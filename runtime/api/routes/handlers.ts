import { repairUser } from '../../core/cache/repair.ts';
import { CacheWriter } from '../../core/cache/writer.ts';
import { createTokenSigner } from '../consistency-token.ts';
import type { AppDeps } from '../deps.ts';
import type { ApiMetrics } from '../metrics.ts';
import { createPackageReader } from '../package/read-package.ts';
import { createPaymentService } from '../payments/service.ts';
import { createSourcePosition } from '../store/source-position.ts';
import { adminHandlers } from './admin.ts';
import { packageHandlers } from './package.ts';
import { paymentHandlers } from './payments.ts';
import type { RouteHandlers } from './table.ts';
import { webhookHandlers } from './webhooks.ts';

/** Every route's handler (by its name in table.ts), with the services they share. */
export function apiHandlers(deps: AppDeps, metrics: ApiMetrics): RouteHandlers {
  const { settings } = deps;
  const tokens = createTokenSigner(settings.consistencyTokenSecret);
  const source = createSourcePosition(deps.pool);
  const payments = createPaymentService({
    pool: deps.pool,
    provider: deps.provider,
    tokens,
    source,
    idempotencyTtlHours: settings.idempotencyTtlHours,
    ...(settings.providerTimeoutMs === undefined ? {} : { providerTimeoutMs: settings.providerTimeoutMs }),
  });
  const readPackage = createPackageReader({
    pool: deps.pool,
    reader: deps.reader,
    tokens,
    source,
    onSource: metrics.packageRead,
  });
  const cacheWriter = new CacheWriter(deps.redis, settings.redisKeyPrefix);
  return {
    ...paymentHandlers({ pool: deps.pool, payments }),
    ...packageHandlers({ readPackage }),
    ...adminHandlers({
      repairUser: (userId) =>
        repairUser({
          pool: deps.pool,
          redis: deps.redis,
          writer: cacheWriter,
          prefix: settings.redisKeyPrefix,
          userId,
        }),
    }),
    ...webhookHandlers({
      pool: deps.pool,
      provider: deps.provider.name,
      secret: settings.webhookSecret,
      toleranceSeconds: settings.webhookToleranceSeconds,
    }),
  };
}
