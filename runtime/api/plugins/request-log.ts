import { randomUUID } from 'node:crypto';
import { type FastifyServerOptions, LogController } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import type { ApiMetrics } from '../metrics.ts';
import { lazyRequestLogger } from '../request-logger.ts';
import { rootPlugin } from './root-plugin.ts';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The server options of request logging (fastify takes them at construction): the caller's
 * X-Request-Id when it is a sane one, a per-request logger made only when a request logs, and
 * fastify's own request lines off (the plugin below logs them with route and status).
 */
export const requestLogServerOptions = {
  logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
  genReqId: (req) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  },
  childLoggerFactory: lazyRequestLogger,
} satisfies FastifyServerOptions;

/**
 * The latency histogram by route, method and status, and request lines at debug (server errors
 * always); a line is only built when it will be written. Callback-style: no promise per request.
 */
export const requestLog = rootPlugin<{ logger: Logger; metrics: Pick<ApiMetrics, 'observeRequest'> }>(
  'api-request-log',
  (app, opts) => {
    const { metrics } = opts;
    const debugEnabled = opts.logger.isLevelEnabled('debug');
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched';
      metrics.observeRequest(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
      if (reply.statusCode >= 500 || debugEnabled) {
        const line = {
          method: req.method,
          route,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        };
        if (reply.statusCode >= 500) req.log.error(line, 'request failed');
        else req.log.debug(line, 'request done');
      }
      done();
    });
  },
);
