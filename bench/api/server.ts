import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../runtime/api/app.ts';
import { deriveTokenSecret } from '../../runtime/api/consistency-token.ts';
import { ApiError } from '../../runtime/api/errors.ts';
import { createNearCache } from '../../runtime/api/package/near-cache-setup.ts';
import { createSimulatedProvider } from '../../runtime/api/payments/provider.ts';
import { RedisPurchasePackageReader } from '../../runtime/core/cache/reader.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { redisConfigOf } from '../../runtime/core/redis/connect.ts';
import { need, packageRouteParts } from './stack.ts';

/**
 * One benchmark target per process (the load generator runs in another), printing `{"port":N}`:
 *   app-redis | app-mysql   the real api (auth, rate limit, metrics) as main.ts wires it (near cache in
 *                           front of the Redis reader) / answering from MySQL only
 *   app-redis-direct        the real api with the near cache off: every read is a Redis round trip
 *   fastify-bare | express-bare   a bare route returning a constant body of BENCH_BODY_BYTES
 *   fastify-route | express-route the same purchase-package handler on each framework
 */
const mode = process.argv[2] ?? '';
const constant = 'x'.repeat(Number(process.env.BENCH_BODY_BYTES ?? '1000'));

type Handled = { status: number; body: Buffer | string };

async function handle(
  parts: ReturnType<typeof packageRouteParts>,
  auth: string | undefined,
  userId: string,
  limit: number,
): Promise<Handled> {
  try {
    const p = await parts.authenticate(auth);
    if (p.userId !== userId) return { status: 404, body: '{}' };
    const { body } = await parts.readPackage(userId, {
      limit,
      cursor: undefined,
      consistency_token: undefined,
    });
    return { status: 200, body };
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, body: JSON.stringify(err.toBody()) };
    throw err;
  }
}

async function start(): Promise<number> {
  switch (mode) {
    case 'app-redis':
    case 'app-redis-direct':
    case 'app-mysql': {
      const parts = packageRouteParts(mode === 'app-mysql' ? 'mysql' : 'redis');
      const registry = new Registry();
      const log = createLogger('api-bench', 'warn');
      let reader = parts.reader;
      if (mode === 'app-redis' && parts.reader instanceof RedisPurchasePackageReader) {
        const near = createNearCache({
          redis: redisConfigOf(process.env),
          prefix: need('REDIS_KEY_PREFIX'),
          reader: parts.reader,
          settings: {
            maxBytes: Number(process.env.BENCH_NEAR_CACHE_BYTES ?? 64 * 1024 ** 2),
            maxAgeMs: 30_000,
          },
          registry,
          log,
        });
        await near.feed.start();
        reader = near.reader;
      }
      const app = await buildApp({
        pool: parts.pool,
        redis: parts.redis,
        reader,
        provider: createSimulatedProvider(),
        authenticate: parts.authenticate,
        logger: log,
        registry,
        settings: {
          redisKeyPrefix: need('REDIS_KEY_PREFIX'),
          bodyLimitBytes: 16_384,
          idempotencyTtlHours: 24,
          consistencyTokenSecret: deriveTokenSecret(need('AUTH_JWT_SECRET')),
          webhookSecret: undefined,
          webhookToleranceSeconds: 300,
          rateLimitUserPerMinute: Number(process.env.RATE_LIMIT_USER_PER_MINUTE ?? '10000000'),
          rateLimitIpPerMinute: Number(process.env.RATE_LIMIT_IP_PER_MINUTE ?? '10000000'),
        },
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
    case 'fastify-bare': {
      const app = Fastify();
      app.get('/v1/users/:user_id/purchases', (_req, reply) => reply.type('application/json').send(constant));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
    case 'fastify-route': {
      const parts = packageRouteParts('redis');
      const app = Fastify();
      app.get('/v1/users/:user_id/purchases', async (req, reply) => {
        const { user_id } = req.params as { user_id: string };
        const r = await handle(parts, req.headers.authorization, user_id, 20);
        return reply.code(r.status).type('application/json').send(r.body);
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as AddressInfo).port;
    }
    case 'express-bare':
    case 'express-route': {
      const parts = mode === 'express-route' ? packageRouteParts('redis') : null;
      const app = express();
      app.get('/v1/users/:user_id/purchases', (req, res, next) => {
        if (!parts) {
          res.type('application/json').send(constant);
          return;
        }
        handle(parts, req.headers.authorization, req.params.user_id, 20).then(
          (r) => res.status(r.status).type('application/json').send(r.body),
          next,
        );
      });
      return new Promise((resolve) => {
        const server = app.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      });
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

const port = await start();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
