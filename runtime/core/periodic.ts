/**
 * A pass run every `intervalMs` on an unref'd timer: a pass still running skips its turn (passes never
 * overlap), a failed pass goes to `onError` and the next turn retries, and `stop()` waits for the pass
 * that is running so a shutdown never cuts one in half.
 */
export function periodic(pass: () => Promise<unknown>, onError: (err: unknown) => void) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    start(intervalMs: number): void {
      timer = setInterval(() => {
        if (running) return;
        running = pass()
          .catch(onError)
          .finally(() => {
            running = undefined;
          });
      }, intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
