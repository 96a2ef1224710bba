/**
 * `promise`, or a rejection with `error()` once `ms` pass first. The promise itself runs on (the
 * caller decides what an answer that comes too late means); the timer is cleared either way.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
