import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { readStackEnv } from './dev/stack-env.ts';

/** Connection settings of the test stack (written by `STACK_NAME=test dev/stack.sh up`). */
function stackEnv(): Record<string, string> {
  const file = process.env.STACK_ENV_FILE ?? '.local/test-stack.env';
  return existsSync(file) ? readStackEnv(file) : {};
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
