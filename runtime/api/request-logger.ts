import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * The per-request logger (`req.log`), made only when a request actually logs. fastify makes a pino
 * child per request for the request id; building it (bindings serialised to JSON) is a measurable
 * share of a request that logs nothing, which is nearly every successful one. Lines written through
 * it are exactly the child's: same bindings, same level.
 */
class LazyRequestLogger {
  private readonly parent: Logger;
  private readonly bindings: Bindings;
  private readonly options: ChildLoggerOptions;
  private made: Logger | undefined;

  constructor(parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.parent = parent;
    this.bindings = bindings;
    this.options = options;
  }

  private get real(): Logger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }

  private write(level: Level, args: unknown[]): void {
    // Without a child yet the parent's level decides (the child inherits it unless a route set its own).
    if (this.made === undefined && this.options.level === undefined && !this.parent.isLevelEnabled(level))
      return;
    (this.real[level] as (...a: unknown[]) => void)(...args);
  }
}

/** fastify's `childLoggerFactory`: a lazy child of the service logger per request. */
export function lazyRequestLogger(
  this: unknown,
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
