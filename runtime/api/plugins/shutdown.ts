import { rootPlugin } from './root-plugin.ts';

/**
 * Responses finishing after close() began tell the client to hang up, so keep-alive connections of
 * in-flight requests end with them instead of holding the shutdown until the keep-alive timeout.
 * (New requests during close get fastify's `return503OnClosing`.)
 */
export const closeOnShutdown = rootPlugin('api-close-on-shutdown', (app) => {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
});
