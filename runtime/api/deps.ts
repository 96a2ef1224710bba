import type { Registry } from 'prom-client';
import type { PurchasePackageReader } from '../core/cache/types.ts';
import type { Pool } from '../core/db/pool.ts';
import type { Logger } from '../core/logger.ts';
import type { RedisClient } from '../core/redis/client.ts';
import type { Authenticator } from './auth.ts';
import type { PaymentProvider } from './payments/provider.ts';
import type { ReadinessProbe } from './readiness.ts';

/** What the api is built from (main.ts connects them; tests and benchmarks pass their own). */
export type AppDeps = {
  pool: Pool;
  redis: RedisClient;
  reader: PurchasePackageReader;
  provider: PaymentProvider;
  authenticate: Authenticator;
  logger: Logger;
  registry: Registry;
  settings: {
    redisKeyPrefix: string;
    bodyLimitBytes: number;
    idempotencyTtlHours: number;
    /** HMAC key of consistency tokens (CONSISTENCY_TOKEN_SECRET, or derived from the JWT secret). */
    consistencyTokenSecret: string;
    /** A charge not answered by then has an unknown outcome: the payment stays processing (recovery settles it). */
    providerTimeoutMs?: number;
    webhookSecret: string | undefined;
    webhookToleranceSeconds: number;
    rateLimitUserPerMinute: number;
    rateLimitIpPerMinute: number;
    /**
     * Trusted proxy addresses / CIDR blocks: the client address is the rightmost X-Forwarded-For hop
     * that is not one of them (none: the socket's peer). Never `true`: that would let the client's
     * own leftmost entry choose its rate-limit bucket.
     */
    trustProxy?: readonly string[];
    /**
     * Deprecated: also serve /metrics and /readyz on the public port (they live on the ops port,
     * main.ts). Off by default: they are unauthenticated and unlimited.
     */
    publicOpsRoutes?: boolean;
    /** A request not answered by then gets 503 (a hung dependency); above the provider timeout. */
    requestTimeoutMs?: number;
    /** The API reference page at /docs (API_DOCS_ENABLED; /openapi.json is served either way). */
    docsEnabled?: boolean;
  };
  /** True once shutdown began: /readyz turns 503 so load balancers stop sending traffic. */
  isStopping?: () => boolean;
  /** The readiness answer shared with the ops server (default: one built from pool and redis). */
  ready?: ReadinessProbe;
  /** The rate limiter's clock in ms since the epoch (default Date.now; tests keep clear of window edges). */
  rateLimitClock?: () => number;
};
