import { existsSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/** Connection settings of the test stack (written by `STACK_NAME=test dev/stack.sh up`). */
function stackEnv(): Record<string, string> {
  const file = process.env.STACK_ENV_FILE ?? '.local/test-stack.env';
  if (!existsSync(file)) return {};
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

const env = stackEnv();

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['runtime/**/*.test.ts', 'operator/**/*.test.ts', 'crds/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          env,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          env,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
          maxWorkers: 1,
        },
      },
      {
        // The real node (K8S_NODE=real dev/cluster.sh up): helm install + kubectl apply, real pods.
        test: {
          name: 'pods',
          include: ['test/pods/**/*.test.ts'],
          env,
          testTimeout: 300_000,
          hookTimeout: 420_000,
          pool: 'forks',
          maxWorkers: 1,
        },
      },
      {
        test: {
          name: 'operator',
          include: ['test/operator/**/*.test.ts'],
          env,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
          maxWorkers: 1,
        },
      },
    ],
  },
});
