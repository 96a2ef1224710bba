/**
 * Reads a variable the test stack must provide (or `from`, e.g. a private stack's settings); fails the
 * suite with a pointer to `make test`.
 */
export function requireEnv(name: string, from: Record<string, string | undefined> = process.env): string {
  const value = from[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suites through \`make test\`, which starts the test stack`);
  }
  return value;
}

/** Short unique suffix for databases, topic prefixes and Redis key prefixes of one suite. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
