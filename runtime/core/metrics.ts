import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per service, with process metrics and a `service` label on everything. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** What /readyz reports: a flag, or a flag with the reason it is not ready (put in the body). */
export type Readiness = boolean | { ready: boolean; reason?: string | undefined };

/** Standalone /metrics, /healthz and /readyz for services that have no HTTP API of their own. */
export function startOpsServer(opts: {
  registry: Registry;
  port: number;
  host?: string;
  ready: () => Promise<Readiness> | Readiness;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/metrics') {
      opts.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    if (url === '/readyz') {
      Promise.resolve(opts.ready()).then(
        (readiness) => {
          const { ready: ok, reason } = typeof readiness === 'boolean' ? { ready: readiness } : readiness;
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ status: ok ? 'ready' : 'not_ready', ...(!ok && reason ? { reason } : {}) }),
          );
        },
        () => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"status":"not_ready"}');
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"type":"not_found","code":"route_not_found","message":"no such route"}}');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve(server));
  });
}
