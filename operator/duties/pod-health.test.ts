import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { assess, rolloutOf } from '../controller/conditions.ts';
import { componentLabels } from '../controller/labels.ts';
import {
  pipelineProblems,
  podPipelineKey,
  podProblems,
  podsDegraded,
  problemsChanged,
} from './pod-health.ts';

function pod(
  name: string,
  component: 'api' | 'producer' | 'consumer',
  statuses: Partial<V1ContainerStatus>[],
  options: { namespace?: string; pipeline?: string; deleting?: boolean } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: options.namespace ?? 'ns',
      labels: componentLabels(options.pipeline ?? 'p', component),
      ...(options.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    status: {
      containerStatuses: statuses.map((s) => ({
        name: component,
        image: 'img',
        imageID: '',
        ready: false,
        restartCount: 0,
        ...s,
      })),
    },
  };
}

const crashLooping: Partial<V1ContainerStatus> = {
  restartCount: 3,
  state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error' } },
};
// Between two crashes: the kubelet restarted it, it runs, not Ready yet.
const restarted: Partial<V1ContainerStatus> = {
  restartCount: 4,
  state: { running: { startedAt: new Date() } },
  lastState: { terminated: { exitCode: 1, reason: 'Error' } },
};
const recovered: Partial<V1ContainerStatus> = { ...restarted, ready: true };
const starting: Partial<V1ContainerStatus> = { state: { waiting: { reason: 'ContainerCreating' } } };

describe('podProblems', () => {
  it('reports a crash-looping container with its restarts and how it last ended', () => {
    expect(podProblems('producer', pod('p-producer-1', 'producer', [crashLooping]))).toEqual([
      {
        component: 'producer',
        pod: 'p-producer-1',
        container: 'producer',
        reason: 'CrashLoopBackOff',
        restarts: 3,
        lastTermination: 'Error, exit code 1',
      },
    ]);
  });

  it('keeps reporting it while it runs again between crashes, until it is Ready', () => {
    expect(podProblems('producer', pod('x', 'producer', [restarted]))[0]?.reason).toBe('CrashLoopBackOff');
    expect(podProblems('producer', pod('x', 'producer', [recovered]))).toEqual([]);
  });

  it('reports images and configurations the kubelet cannot run, not normal starts', () => {
    const config = { state: { waiting: { reason: 'CreateContainerConfigError' } } };
    expect(podProblems('api', pod('x', 'api', [config]))).toEqual([
      { component: 'api', pod: 'x', container: 'api', reason: 'CreateContainerConfigError', restarts: 0 },
    ]);
    const image = { state: { waiting: { reason: 'ErrImageNeverPull' } } };
    expect(podProblems('api', pod('x', 'api', [image]))[0]?.reason).toBe('ErrImageNeverPull');
    expect(podProblems('api', pod('x', 'api', [starting]))).toEqual([]);
    expect(podProblems('api', pod('x', 'api', [{ state: { running: {} } }]))).toEqual([]);
    // Restarted after a clean exit (exit code 0) is not a crash.
    const clean = { ...restarted, lastState: { terminated: { exitCode: 0, reason: 'Completed' } } };
    expect(podProblems('api', pod('x', 'api', [clean]))).toEqual([]);
  });

  it('ignores a pod that is being deleted', () => {
    expect(podProblems('api', pod('x', 'api', [crashLooping], { deleting: true }))).toEqual([]);
  });
});

describe('pipelineProblems', () => {
  it("matches a pipeline's pods by namespace and each component's selector labels", () => {
    const pods = [
      pod('p-producer-1', 'producer', [crashLooping]),
      pod('p-api-1', 'api', [recovered]),
      pod('q-producer-1', 'producer', [crashLooping], { pipeline: 'q' }),
      pod('p-producer-2', 'producer', [crashLooping], { namespace: 'other' }),
    ];
    expect(pipelineProblems('p', 'ns', pods).map((p) => `${p.component}/${p.pod}`)).toEqual([
      'producer/p-producer-1',
    ]);
    expect(podPipelineKey(pods[2] as V1Pod)).toBe('ns/q');
  });
});

describe('podsDegraded', () => {
  it('uses the shared reason, or ComponentsFailing, and names every component', () => {
    const a = podProblems('producer', pod('p-producer-1', 'producer', [crashLooping]));
    expect(podsDegraded(a)).toEqual({
      reason: 'CrashLoopBackOff',
      message:
        'producer: pod p-producer-1 container producer CrashLoopBackOff (3 restarts, last termination: Error, exit code 1)',
    });
    const b = podProblems(
      'api',
      pod('p-api-1', 'api', [{ state: { waiting: { reason: 'ImagePullBackOff' } } }]),
    );
    const both = podsDegraded([...a, ...b]);
    expect(both.reason).toBe('ComponentsFailing');
    expect(both.message).toMatch(/^api: pod p-api-1 .*ImagePullBackOff.*; producer: pod p-producer-1/);
  });
});

describe('problemsChanged', () => {
  it('is true when what Degraded would say about a pod changes, not on other status changes', () => {
    const a = pod('x', 'producer', [starting]);
    const b = pod('x', 'producer', [{ state: { running: {} } }]);
    expect(problemsChanged(a, b)).toBe(false);
    expect(problemsChanged(undefined, a)).toBe(false);
    const c = pod('x', 'producer', [crashLooping]);
    expect(problemsChanged(b, c)).toBe(true);
    expect(problemsChanged(c, pod('x', 'producer', [recovered]))).toBe(true);
    expect(problemsChanged(c, undefined)).toBe(true);
  });
});

describe('assess with failing containers', () => {
  const available = rolloutOf('producer', {
    metadata: { generation: 1 },
    spec: { replicas: 1, selector: {}, template: {} },
    status: { observedGeneration: 1, updatedReplicas: 1, availableReplicas: 1 },
  });

  it('is Degraded at once, naming the component and the reason; a failed apply comes first', () => {
    const problems = podProblems('producer', pod('p-producer-1', 'producer', [crashLooping]));
    const a = assess([available], 4, undefined, problems);
    expect(a.degraded).toMatchObject({ status: 'True', reason: 'CrashLoopBackOff', observedGeneration: 4 });
    expect(a.degraded.message).toContain('producer: pod p-producer-1');
    expect(assess([available], 4, 'boom', problems).degraded.reason).toBe('ApplyFailed');
    expect(assess([available], 4, undefined, []).degraded).toMatchObject({ status: 'False' });
  });
});
