import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { type Component, selectorLabels } from '../controller/labels.ts';

const COMPONENTS: readonly Component[] = ['producer', 'consumer', 'api'];

/**
 * Waiting reasons that mean a container cannot run as it is: it keeps crashing, its image cannot be
 * had, or the kubelet cannot build it (a missing Secret key, say). ContainerCreating and
 * PodInitializing are normal steps of a start and are not here.
 */
const FAILING_WAITING_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** One container of a component's pod that is failing, with what the kubelet says about it. */
export type ContainerProblem = {
  component: Component;
  pod: string;
  container: string;
  /** The waiting reason (CrashLoopBackOff, ImagePullBackOff, ...). */
  reason: string;
  restarts: number;
  /** How the last run ended, e.g. "Error, exit code 1"; absent when it never ran. */
  lastTermination?: string;
};

function lastTermination(s: V1ContainerStatus): string | undefined {
  const t = s.lastState?.terminated;
  if (!t) return undefined;
  return [t.reason, `exit code ${t.exitCode}`].filter(Boolean).join(', ');
}

/**
 * The failing containers of one pod. A container that crashed and was restarted but is not Ready yet
 * still counts as crash-looping (with the reason CrashLoopBackOff): between two crashes the kubelet
 * shows it running for a moment, and Degraded must not flap with every restart. It clears once the
 * container is Ready again, or runs without having failed.
 */
export function podProblems(component: Component, pod: V1Pod): ContainerProblem[] {
  if (pod.metadata?.deletionTimestamp) return [];
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const problems: ContainerProblem[] = [];
  for (const s of statuses) {
    const waiting = s.state?.waiting?.reason;
    const failedBefore = s.restartCount > 0 && (s.lastState?.terminated?.exitCode ?? 0) !== 0;
    let reason: string | undefined;
    if (waiting && FAILING_WAITING_REASONS.has(waiting)) reason = waiting;
    else if (failedBefore && !s.ready && !s.state?.terminated) reason = 'CrashLoopBackOff';
    if (!reason) continue;
    const last = lastTermination(s);
    problems.push({
      component,
      pod: pod.metadata?.name ?? '',
      container: s.name,
      reason,
      restarts: s.restartCount,
      ...(last ? { lastTermination: last } : {}),
    });
  }
  return problems;
}

export function describeProblem(p: ContainerProblem): string {
  const last = p.lastTermination ? `, last termination: ${p.lastTermination}` : '';
  return `${p.component}: pod ${p.pod} container ${p.container} ${p.reason} (${p.restarts} restarts${last})`;
}

/**
 * Degraded's reason and message for failing containers: the reason they share (CrashLoopBackOff)
 * or ComponentsFailing when they differ; the message names every component, pod and container.
 */
export function podsDegraded(problems: readonly ContainerProblem[]): { reason: string; message: string } {
  const sorted = [...problems].sort(
    (a, b) =>
      a.component.localeCompare(b.component) ||
      a.pod.localeCompare(b.pod) ||
      a.container.localeCompare(b.container),
  );
  const reasons = new Set(sorted.map((p) => p.reason));
  const reason = reasons.size === 1 ? (sorted[0]?.reason ?? 'ComponentsFailing') : 'ComponentsFailing';
  return { reason, message: sorted.map(describeProblem).join('; ') };
}

/**
 * The failing containers of a pipeline's components. Pods are owned by ReplicaSets, not by the
 * PaymentPipeline: they are matched, in the pipeline's namespace, by each component's selector labels
 * (the labels its Deployment selects them with).
 */
export function pipelineProblems(
  pipeline: string,
  namespace: string,
  pods: readonly V1Pod[],
): ContainerProblem[] {
  return COMPONENTS.flatMap((component) => {
    const selector = Object.entries(selectorLabels(pipeline, component));
    return pods
      .filter(
        (p) =>
          p.metadata?.namespace === namespace && selector.every(([k, v]) => p.metadata?.labels?.[k] === v),
      )
      .flatMap((p) => podProblems(component, p));
  });
}

/** Which pipeline a pod belongs to ("namespace/name"), from its instance label. */
export function podPipelineKey(pod: V1Pod): string | undefined {
  const instance = pod.metadata?.labels?.['app.kubernetes.io/instance'];
  return instance ? `${pod.metadata?.namespace}/${instance}` : undefined;
}

/** A pod change worth a reconcile: its failing containers, as Degraded would report them, changed. */
export function problemsChanged(before: V1Pod | undefined, after: V1Pod | undefined): boolean {
  const summary = (p: V1Pod | undefined) => (p ? podProblems('api', p).map(describeProblem).join('; ') : '');
  return summary(before) !== summary(after);
}
