import { spawn } from 'node:child_process';
import { expect } from 'vitest';

/**
 * Runs an entry point (`runtime/api/main.ts`, `operator/main.ts`...) with exactly `env` (plus PATH),
 * which must be refused before anything connects, and checks the refusal every entry point gives:
 * exit code 2, and on stderr one line per problem, `<component>: invalid configuration: NAME: ...`,
 * no stack trace. Returns those lines.
 */
export async function expectConfigRefusal(
  entry: string,
  component: string,
  env: Record<string, string>,
): Promise<string[]> {
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  // A config that passes would go on to connect: that is a failure too, not a hang.
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect({ code, stderr }).toMatchObject({ code: 2 });
  expect(stderr).not.toMatch(/^\s+at /m);
  for (const line of lines)
    expect(line).toMatch(new RegExp(`^${component}: invalid configuration: [A-Z_]+: `));
  return lines;
}
