import type { Logger } from './logger.ts';

type Hook = { name: string; run: () => Promise<void> | void };

/**
 * Ordered graceful shutdown. Hooks run in registration order on SIGTERM/SIGINT (stop intake first,
 * then drain, then close connections); a second signal or the deadline forces exit.
 */
export class Lifecycle {
  private readonly hooks: Hook[] = [];
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(log: Logger, timeoutMs = 30_000) {
    this.log = log;
    this.timeoutMs = timeoutMs;
  }

  onShutdown(name: string, run: Hook['run']): void {
    this.hooks.push({ name, run });
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  installSignalHandlers(exit: (code: number) => void = (c) => process.exit(c)): void {
    const handler = (signal: NodeJS.Signals) => {
      if (this.stopping) {
        this.log.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      this.log.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        this.log.error({ timeoutMs: this.timeoutMs }, 'shutdown deadline passed: exiting');
        exit(1);
      }, this.timeoutMs);
      timer.unref();
      this.shutdown().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  }

  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      let failed = false;
      for (const hook of this.hooks) {
        try {
          await hook.run();
          this.log.info({ hook: hook.name }, 'shutdown step done');
        } catch (err) {
          failed = true;
          this.log.error({ hook: hook.name, err }, 'shutdown step failed');
        }
      }
      if (failed) throw new Error('shutdown finished with errors');
    })();
    return this.stopping;
  }
}
