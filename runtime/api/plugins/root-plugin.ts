import type { FastifyInstance, FastifyPluginCallback } from 'fastify';

/**
 * A plugin that decorates the instance it is registered on instead of a child context: what
 * fastify-plugin does, by the same symbols fastify reads (a dependency for two lines is not worth it).
 * The api's cross-cutting plugins (headers, admission, errors, request log) must reach every route,
 * so each is registered this way on the root; route modules need no such escape.
 */
export function rootPlugin<Options extends object>(
  name: string,
  fn: (app: FastifyInstance, opts: Options) => void,
): FastifyPluginCallback<Options> {
  const plugin: FastifyPluginCallback<Options> = (app, opts, done) => {
    fn(app, opts);
    done();
  };
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name, fastify: '5.x' },
  });
  return plugin;
}
