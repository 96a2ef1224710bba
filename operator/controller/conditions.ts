import type { V1Deployment } from '@kubernetes/client-node';
import type { PipelineCondition } from '../api/v1alpha1/status.ts';
import { type ContainerProblem, podsDegraded } from '../duties/pod-health.ts';
import type { Component } from './labels.ts';

export type ConditionInput = Omit<PipelineCondition, 'lastTransitionTime'>;

/**
 * Sets a condition in a list, keeping lastTransitionTime when the status did not change (reason,
 * message and observedGeneration still update), so the time means "since when", as in metav1.Condition.
 */
export function setCondition(
  conditions: readonly PipelineCondition[],
  next: ConditionInput,
  now: Date,
): PipelineCondition[] {
  const old = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    old && old.status === next.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z');
  const merged: PipelineCondition = { ...next, lastTransitionTime };
  return [...conditions.filter((c) => c.type !== next.type), merged].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}

export type ComponentRollout = {
  component: Component;
  desired: number;
  updated: number;
  available: number;
  ready: number;
  /** The Deployment controller has seen the latest template and replica count. */
  observed: boolean;
  /** Its Progressing condition reports ProgressDeadlineExceeded. */
  stalled: boolean;
};

export function rolloutOf(component: Component, dep: V1Deployment | undefined): ComponentRollout {
  const desired = dep?.spec?.replicas ?? 1;
  const st = dep?.status;
  const stalled = (st?.conditions ?? []).some(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  return {
    component,
    desired,
    updated: st?.updatedReplicas ?? 0,
    available: st?.availableReplicas ?? 0,
    ready: st?.readyReplicas ?? 0,
    observed: dep !== undefined && (st?.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 1),
    stalled,
  };
}

/** Complete: every replica runs the current template and is available, and nothing extra is left. */
export function isComplete(r: ComponentRollout): boolean {
  return r.observed && r.updated >= r.desired && r.available >= r.desired;
}

export type Assessment = { ready: ConditionInput; progressing: ConditionInput; degraded: ConditionInput };

/**
 * Ready/Progressing/Degraded from the children's rollouts, the outcome of the last apply and the
 * components' failing containers (operator/pod-health.ts). `applyError` (a failed apply), failing
 * containers and stalled rollouts make the pipeline Degraded, in that order of precedence; Ready
 * needs every component complete.
 */
export function assess(
  rollouts: ComponentRollout[],
  generation: number,
  applyError?: string,
  problems: readonly ContainerProblem[] = [],
): Assessment {
  const pending = rollouts.filter((r) => !isComplete(r));
  const stalled = rollouts.filter((r) => r.stalled);
  const summary = rollouts.map((r) => `${r.component} ${r.available}/${r.desired} available`).join(', ');
  const g = { observedGeneration: generation };
  const ready: ConditionInput =
    pending.length === 0
      ? { type: 'Ready', status: 'True', reason: 'AllComponentsAvailable', message: summary, ...g }
      : {
          type: 'Ready',
          status: 'False',
          reason: 'ComponentsNotAvailable',
          message: `waiting for ${pending.map((r) => r.component).join(', ')}: ${summary}`,
          ...g,
        };
  const progressing: ConditionInput =
    pending.length === 0
      ? {
          type: 'Progressing',
          status: 'False',
          reason: 'RolloutComplete',
          message: 'all children are up to date',
          ...g,
        }
      : {
          type: 'Progressing',
          status: 'True',
          reason: 'RollingOut',
          message: pending.map((r) => `${r.component} ${r.updated}/${r.desired} updated`).join(', '),
          ...g,
        };
  let degraded: ConditionInput = {
    type: 'Degraded',
    status: 'False',
    reason: 'AsExpected',
    message: 'no problems',
    ...g,
  };
  if (applyError !== undefined) {
    degraded = { type: 'Degraded', status: 'True', reason: 'ApplyFailed', message: applyError, ...g };
  } else if (problems.length > 0) {
    // Seen as soon as the kubelet reports it, not only after the Deployment's progress deadline.
    degraded = { type: 'Degraded', status: 'True', ...podsDegraded(problems), ...g };
  } else if (stalled.length > 0) {
    degraded = {
      type: 'Degraded',
      status: 'True',
      reason: 'ProgressDeadlineExceeded',
      message: `rollout stalled: ${stalled.map((r) => r.component).join(', ')}`,
      ...g,
    };
  }
  return { ready, progressing, degraded };
}
