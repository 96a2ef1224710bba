// A private stack of the project's own servers (dev/stack.sh on a profile of its own: own ports, own
// data), for suites that stop, hang or kill servers: doing that to the shared test stack would break
// the suites running beside them.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { readStackEnv } from '../../dev/stack-env.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export type StackComponent = 'mariadb' | 'mysql' | 'redis' | 'kafka' | 'stripe';

export type PrivateStack = {
  /** `dev/stack.sh <args>` on this profile, e.g. `up`, `down`, `stop kafka`, `start kafka`. */
  run: (...args: string[]) => Promise<void>;
  /** Connection settings the stack wrote (its STACK_ENV_FILE). */
  env: () => Record<string, string>;
  /** The pid the stack recorded for a running server (the server process itself). */
  pid: (component: StackComponent) => number;
};

/**
 * The `profile` stack (a STACK_NAME of dev/lib/profile.sh) with only `components`; none of the test
 * stack's settings leak into the scripts' environment. `dir` (under the checkout) gives a suite a
 * data folder of its own on a shared profile, `env` its ports (e.g. MYSQL_PORT).
 */
export function privateStack(
  profile: string,
  components: StackComponent[],
  opts: { dir?: string; env?: Record<string, string> } = {},
): PrivateStack {
  const stackDir = opts.dir ? `${ROOT}/${opts.dir}` : `${ROOT}/.local/${profile}`;
  const envFile = opts.dir ? `${stackDir}/stack.env` : `${ROOT}/.local/${profile}-stack.env`;
  return {
    async run(...args) {
      await run(`${ROOT}/dev/stack.sh`, args, {
        cwd: ROOT,
        timeout: 180_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/root',
          ...(process.env.PAYMENTS_CACHE_DIR ? { PAYMENTS_CACHE_DIR: process.env.PAYMENTS_CACHE_DIR } : {}),
          STACK_NAME: profile,
          STACK_COMPONENTS: components.join(' '),
          KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m', // a second broker on a small shared machine
          ...(opts.dir ? { STACK_DIR: stackDir, STACK_ENV_FILE: envFile } : {}),
          ...opts.env,
        },
      });
    },
    env: () => readStackEnv(envFile),
    pid: (component) => Number(readFileSync(`${stackDir}/run/${component}.pid`, 'utf8').trim()),
  };
}
