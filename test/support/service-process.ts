import { type ChildProcess, spawn } from 'node:child_process';

export type ServiceChild = {
  child: ChildProcess;
  /** stdout and stderr so far (for failure messages). */
  output: () => string;
  exited: Promise<number | null>;
};

/**
 * `node runtime/<service>/main.ts` as a child process with exactly `env` (plus PATH): the service as it
 * would start in its container, nothing inherited from the test's environment.
 */
export function spawnService(service: string, env: Record<string, string>): ServiceChild {
  const child = spawn(process.execPath, [`runtime/${service}/main.ts`], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}
