import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { readStackEnv } from './dev/stack-env.ts';

/** Connection settings of the test stack (written by `STACK_NAME=test dev/stack.sh up`). */
function stackEnv(file = process.env.STACK_ENV_FILE ?? '.local/test-stack.env'): Record<string, string> {
  return existsSync(file) ? readStackEnv(file) : {};
}

const env = stackEnv();

/**
 * The same stack with its database switched to the MySQL 9.7 test server (`dev/run-tests.sh` starts
 * it; `MYSQL_STACK_ENV_FILE` names its stack.env): the flavor-sensitive suites run again there.
 */
const mysqlServer = stackEnv(process.env.MYSQL_STACK_ENV_FILE ?? '.local/test-mysql/stack.env');
const mysqlEnv = {
  ...env,
  DB_FLAVOR: 'mysql',
  MYSQL_URL: mysqlServer.MYSQL_URL ?? '',
  MYSQL_ADMIN_URL: mysqlServer.MYSQL_ADMIN_URL ?? '',
  MYSQL_CDC_URL: mysqlServer.MYSQL_CDC_URL ?? '',
};

/** The suites whose behaviour depends on the database flavor: producer, consumer, api, end to end. */
const FLAVOR_SUITES = [
  'test/integration/producer.values.test.ts',
  'test/integration/producer.resume.test.ts',
  'test/integration/producer.schema.test.ts',
  'test/integration/consumer.test.ts',
  'test/integration/consumer-rebuild.test.ts',
  'test/integration/api.test.ts',
  'test/integration/api-consistency-token.test.ts',
];

/** Suites of what only MySQL has (its value encodings), run on the MySQL test server only. */
const MYSQL_ONLY_SUITES = ['test/integration/producer.values-mysql.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['runtime/**/*.test.ts', 'operator/**/*.test.ts', 'crds/**/*.test.ts', 'dev/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // The MySQL-only suites run in integration-mysql, against the MySQL test server.
          exclude: MYSQL_ONLY_SUITES,
          env,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'integration-mysql',
          include: [...FLAVOR_SUITES, ...MYSQL_ONLY_SUITES],
          env: mysqlEnv,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'e2e-mysql',
          include: ['test/e2e/pipeline.test.ts'],
          env: mysqlEnv,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
          maxWorkers: 1,
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
