import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { PipelineSpecInput } from '../../operator/api/v1alpha1/spec.ts';
import { createOperator, type Operator } from '../../operator/app.ts';
import { operatorEnv } from '../../operator/config.ts';
import { RESOURCES } from '../../operator/controller/resources.ts';
import { isNotFound, KubeApiError, KubeHttp } from '../../operator/framework/kube/http.ts';
import { resourcePath } from '../../operator/framework/kube/resources.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { uniqueSuffix } from '../support/env.ts';
import { waitFor } from '../support/wait.ts';

export { waitFor };

/** Helpers for the operator suites: the real API server of `dev/cluster.sh up`, one namespace per suite. */

export const KUBECONFIG = process.env.KUBECONFIG ?? `${process.cwd()}/.local/kubeconfig`;

export function kubeConfig(): KubeConfig {
  if (!existsSync(KUBECONFIG)) {
    throw new Error(
      `${KUBECONFIG} is missing: start the control plane with \`make cluster\` (dev/cluster.sh up)`,
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

export type Kube = ReturnType<typeof kubeClient>;

/** A thin test client: the operator's own HTTP layer, so requests look like the operator's. */
export function kubeClient(kc: KubeConfig) {
  const http = new KubeHttp(kc);
  const path = (kind: keyof typeof RESOURCES, ns?: string, name?: string, sub?: string) =>
    resourcePath(RESOURCES[kind], ns, name, sub);
  return {
    http,
    path,
    get: async <T = KubernetesObject>(kind: keyof typeof RESOURCES, ns: string, name: string) => {
      try {
        return await http.request<T>('GET', path(kind, ns, name));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    list: async <T = KubernetesObject>(kind: keyof typeof RESOURCES, ns: string, labelSelector?: string) =>
      (await http.request<{ items: T[] }>('GET', path(kind, ns), { query: { labelSelector } })).items,
    create: <T>(kind: keyof typeof RESOURCES, ns: string, body: unknown) =>
      http.request<T>('POST', path(kind, ns), { body }),
    /** A JSON merge patch as another client (a human with kubectl edit) would send. */
    mergePatch: <T>(kind: keyof typeof RESOURCES, ns: string, name: string, body: unknown) =>
      http.request<T>('PATCH', path(kind, ns, name), {
        body,
        contentType: 'application/merge-patch+json',
        query: { fieldManager: 'kubectl-edit' },
      }),
    delete: (kind: keyof typeof RESOURCES, ns: string, name: string) =>
      http.request('DELETE', path(kind, ns, name)).catch((err) => {
        if (!isNotFound(err)) throw err;
      }),
  };
}

/** Applies the generated CRD (server-side) and waits until it is Established. */
export async function ensureCrd(kube: Kube): Promise<void> {
  const crd = JSON.parse(
    readFileSync('crds/generated/paymentpipelines.payments.example.com.json', 'utf8'),
  ) as KubernetesObject;
  const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata?.name}`;
  await kube.http.request('PATCH', crdPath, {
    body: crd,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'operator-tests', force: true },
  });
  await waitFor('CRD established', async () => {
    const c = await kube.http.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
      'GET',
      crdPath,
    );
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ?? false;
  });
  // Discovery of a fresh CRD lags a little behind Established: wait until its list works.
  await waitFor('CRD served', async () => {
    try {
      await kube.http.request('GET', resourcePath(RESOURCES.PaymentPipeline, 'default'));
      return true;
    } catch {
      return false;
    }
  });
}

export async function createNamespace(kube: Kube, prefix: string): Promise<string> {
  const name = `${prefix}-${uniqueSuffix()}`.toLowerCase().slice(0, 63);
  await kube.http.request('POST', '/api/v1/namespaces', {
    body: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'payments.example.com/test': 'operator' } },
    },
  });
  // The namespace's default ServiceAccount must exist before pods can be created in it.
  await waitFor('default service account', async () => {
    try {
      await kube.http.request('GET', `/api/v1/namespaces/${name}/serviceaccounts/default`);
      return true;
    } catch {
      return false;
    }
  });
  return name;
}

export async function deleteNamespace(kube: Kube, name: string): Promise<void> {
  await kube.http.request('DELETE', `/api/v1/namespaces/${name}`).catch(() => {});
}

/** The Secrets a pipeline names (the operator references them; it never reads them). */
export async function createSecrets(kube: Kube, ns: string): Promise<void> {
  const secret = (name: string, data: Record<string, string>) =>
    kube.http.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data },
    });
  await secret('db', { username: 'app', password: 'app-pw', cdcUsername: 'cdc', cdcPassword: 'cdc-pw' });
  await secret('auth', { jwtSecret: 'dev-secret-at-least-32-bytes-long!!' });
}

export function pipelineSpec(overrides: Partial<PipelineSpecInput> = {}): PipelineSpecInput {
  return {
    image: 'payment-pipeline:test',
    mysql: {
      host: 'mariadb',
      database: 'payments',
      credentialsSecret: 'db',
      serverId: 4242,
      tables: ['purchases'],
    },
    kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay', partitions: 6 },
    redis: { url: 'redis://redis:6379/0' },
    api: { authSecret: 'auth', replicas: 2 },
    ...overrides,
  };
}

export function pipeline(ns: string, name: string, spec: unknown) {
  return {
    apiVersion: 'payments.example.com/v1alpha1',
    kind: 'PaymentPipeline',
    metadata: { name, namespace: ns },
    spec,
  };
}

/** An operator replica in this process, scoped to one namespace and one lease. */
export function startInProcessOperator(
  kc: KubeConfig,
  ns: string,
  identity = `test-${uniqueSuffix()}`,
  extraEnv: Record<string, string> = {},
): Operator {
  const config = operatorEnv.parse({
    WATCH_NAMESPACE: ns,
    LEADER_ELECTION_NAMESPACE: ns,
    LEADER_ELECTION_NAME: 'operator',
    POD_NAME: identity,
    RETRY_PERIOD_SECONDS: '1',
    WATCH_TIMEOUT_SECONDS: '5',
    // These suites prove the foundation; the autoscaler and binlog duties have their own suites.
    OPERATOR_DUTIES: 'none',
    ...extraEnv,
  });
  return createOperator({
    config,
    kc,
    log: createLogger('operator-test', process.env.OPERATOR_TEST_LOG_LEVEL ?? 'warn'),
    registry: new Registry(),
    // Reconciling stops with the leadership; the waiting assertions then fail on their timeouts.
    onLostLeadership: () => console.error(`operator ${identity} lost leadership during a test`),
  });
}

/**
 * A fresh namespace (the CRD installed) with a leading in-process operator watching it. `prepare`
 * fills the namespace before the operator starts (default: the standard Secrets); `stop` stops the
 * operator and deletes the namespace.
 */
export async function operatorNamespace(
  kube: Kube,
  kc: KubeConfig,
  name: string,
  opts: { env?: Record<string, string>; prepare?: (ns: string) => Promise<void> } = {},
): Promise<{ ns: string; stop: () => Promise<void> }> {
  await ensureCrd(kube);
  const ns = await createNamespace(kube, name);
  let operator: Operator | undefined;
  const stop = async () => {
    await operator?.stop();
    await deleteNamespace(kube, ns);
  };
  try {
    await (opts.prepare ?? ((n: string) => createSecrets(kube, n)))(ns);
    operator = startInProcessOperator(kc, ns, undefined, opts.env);
    const started = operator;
    await waitFor('leadership', () => started.elector.isLeader, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ns, stop };
}

export type OperatorProcess = {
  identity: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
};

/** `node operator/main.ts` as its own process, exactly as `make operator` runs it. */
export function spawnOperator(ns: string, identity: string, opsPort: number): OperatorProcess {
  let output = '';
  const child = spawn(process.execPath, ['operator/main.ts'], {
    env: {
      ...process.env,
      KUBECONFIG,
      WATCH_NAMESPACE: ns,
      LEADER_ELECTION_NAMESPACE: ns,
      LEADER_ELECTION_NAME: 'operator',
      POD_NAME: identity,
      OPS_PORT: String(opsPort),
      OPS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      LEASE_DURATION_SECONDS: '6',
      RENEW_DEADLINE_SECONDS: '4',
      RETRY_PERIOD_SECONDS: '1',
      OPERATOR_DUTIES: 'none',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    identity,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export { KubeApiError };
