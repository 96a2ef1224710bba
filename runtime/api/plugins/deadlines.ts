import type { FastifyReply } from 'fastify';
import { serviceUnavailable } from '../unavailable.ts';
import { rootPlugin } from './root-plugin.ts';

/**
 * A request to an API route (one with an `auth` setting) not answered in `timeoutMs` gets its 503,
 * whatever it waits for (a hung MySQL holds its pool connections and new ones queue). One sweep per
 * quarter of the timeout instead of a timer per request (a timer costs several times a Set entry on
 * the hot path); the Set iterates in arrival order, so a sweep stops at the first request still
 * within its time. fastify's own handlerTimeout is not used: it is cancelled once a request body has
 * been read, so it never covers a POST. Registered before admission, so requests enter in arrival order.
 */
export const requestDeadlines = rootPlugin<{ timeoutMs: number }>('api-request-deadlines', (app, opts) => {
  const { timeoutMs } = opts;
  if (timeoutMs <= 0) return;
  const inFlight = new Set<FastifyReply>();
  const sweep = setInterval(
    () => {
      for (const reply of inFlight) {
        if (reply.elapsedTime < timeoutMs) break;
        inFlight.delete(reply);
        if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) continue;
        reply.send(
          serviceUnavailable('the request did not complete in time, retry with the same Idempotency-Key'),
        );
      }
    },
    Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4))),
  );
  sweep.unref();
  app.addHook('onRequest', (req, reply, done) => {
    if (req.routeOptions.config.auth !== undefined) inFlight.add(reply);
    done();
  });
  app.addHook('onResponse', (_req, reply, done) => {
    inFlight.delete(reply);
    done();
  });
  app.addHook('onClose', (_app, done) => {
    clearInterval(sweep);
    done();
  });
});
