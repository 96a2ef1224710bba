import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Helpers for the suites on the real node (`K8S_NODE=real dev/cluster.sh up`): pods there run real
 * containers (containerd + runc) from the images dev/images.sh built, and reach the test stack's
 * servers at the host's own 127.0.0.1 addresses (dev/lib/node.sh).
 */

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
export const KUBECONFIG = process.env.K8S_REAL_KUBECONFIG ?? join(ROOT, '.local', 'kubeconfig-real');
const BIN = join(ROOT, '.local', 'bin');

export function requireRealNode(): void {
  if (!existsSync(KUBECONFIG)) {
    throw new Error(`${KUBECONFIG} is missing: start the real node with \`make cluster-node\``);
  }
}

async function tool(name: string, args: string[], input?: string): Promise<string> {
  const child = run(join(BIN, name), args, {
    env: { ...process.env, KUBECONFIG, HOME: join(ROOT, '.local', 'cluster-real', 'home') },
    maxBuffer: 32 * 1024 * 1024,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

export const kubectl = (args: string[], input?: string) => tool('kubectl', args, input);

/** `ctr` against the real node's containerd, in the kubelet's namespace (k8s.io). */
export async function ctr(args: string[]): Promise<string> {
  const { stdout } = await run(join(ROOT, 'dev', 'cluster.sh'), ['env'], {
    env: { ...process.env, K8S_NODE: 'real' },
  });
  const env: Record<string, string> = {};
  for (const m of stdout.matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1] as string] = m[2] as string;
  if (!env.CTR || !env.CONTAINERD_ADDRESS)
    throw new Error('the real node has no containerd (dev/cluster.sh env)');
  const { stdout: out } = await run(env.CTR, [
    '--address',
    env.CONTAINERD_ADDRESS,
    '--namespace',
    'k8s.io',
    ...args,
  ]);
  return out;
}
export const helm = (args: string[]) => tool('helm', args);

export async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export type Pod = {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID?: string;
      state?: Record<string, unknown>;
    }[];
  };
};

export const podReady = (p: Pod) =>
  p.status.phase === 'Running' &&
  !p.metadata.deletionTimestamp &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export async function pods(ns: string, selector?: string): Promise<Pod[]> {
  const args = ['-n', ns, 'get', 'pods', ...(selector ? ['-l', selector] : [])];
  return (await kubectlJson<{ items: Pod[] }>(args)).items;
}

/**
 * The host processes of a container: every pid whose cgroup path ends in the container's id (runc
 * puts the container into <pod cgroup>/<container id> in every v1 hierarchy).
 */
export function hostPids(containerId: string): { pid: number; cmdline: string }[] {
  const id = containerId.replace(/^containerd:\/\//, '');
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      if (!cgroup.split('\n').some((l) => l.endsWith(`/${id}`))) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), cmdline });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
