import type { FastifyPluginCallback } from 'fastify';
import type { Registry } from 'prom-client';
import { docsRoutes } from '../docs-page.ts';
import { buildOpenApiDocument } from '../openapi.ts';
import type { ReadinessProbe } from '../readiness.ts';

export type OpsRoutesOptions = {
  /** The API reference page at /docs (API_DOCS_ENABLED; /openapi.json is served either way). */
  docsEnabled: boolean;
  /**
   * Deprecated: also serve /metrics and /readyz on the public port (they live on the ops port,
   * main.ts). With it, `ready` and `registry` answer them.
   */
  publicOps?: { ready: ReadinessProbe; registry: Registry };
};

/**
 * Public routes that are not the API itself: /healthz (no dependency, for load balancers), the API
 * document and its reference page (rendered once at start, rate-limited per address like every /v1
 * route), and the deprecated public /readyz and /metrics.
 */
export const opsRoutes: FastifyPluginCallback<OpsRoutesOptions> = (app, opts, done) => {
  const openapi = JSON.stringify(buildOpenApiDocument());
  const limited = { config: { auth: false as const } };
  app.get('/openapi.json', limited, (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(openapi),
  );
  if (opts.docsEnabled) docsRoutes(app, limited);
  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  const publicOps = opts.publicOps;
  if (publicOps) {
    app.get('/readyz', async (_req, reply) => {
      const ok = await publicOps.ready();
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready' });
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(publicOps.registry.contentType).send(await publicOps.registry.metrics()),
    );
  }
  done();
};
