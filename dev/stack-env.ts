import { readFileSync } from 'node:fs';

/**
 * The KEY=value lines a stack env file holds (`.local/stack.env`, `.local/test-stack.env`, a private
 * stack's STACK_ENV_FILE), as dev/stack.sh writes them: one reader for tests, benches and vitest.
 */
export function readStackEnv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}
