import type { V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { assess, rolloutOf, setCondition } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

function dep(o: {
  replicas: number;
  gen: number;
  observed: number;
  updated: number;
  available: number;
}): V1Deployment {
  return {
    metadata: { generation: o.gen },
    spec: { replicas: o.replicas, selector: {}, template: {} },
    status: { observedGeneration: o.observed, updatedReplicas: o.updated, availableReplicas: o.available },
  };
}

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status holds and moves it when the status flips', () => {
    let c = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'm' }, t0);
    expect(c[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    c = setCondition(
      c,
      { type: 'Ready', status: 'False', reason: 'B', message: 'n', observedGeneration: 2 },
      t1,
    );
    expect(c[0]).toMatchObject({
      reason: 'B',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 2,
    });
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'C', message: 'o' }, t1);
    expect(c[0]?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
    expect(c).toHaveLength(1);
  });
});

describe('assess', () => {
  const done = dep({ replicas: 2, gen: 3, observed: 3, updated: 2, available: 2 });

  it('is Ready only when every component is observed, updated and available', () => {
    const a = assess([rolloutOf('api', done), rolloutOf('producer', done)], 7);
    expect(a.ready).toMatchObject({
      status: 'True',
      reason: 'AllComponentsAvailable',
      observedGeneration: 7,
    });
    expect(a.progressing.status).toBe('False');
    expect(a.degraded.status).toBe('False');
  });

  it('reports a stale observedGeneration or missing replicas as still rolling out', () => {
    const stale = dep({ replicas: 2, gen: 4, observed: 3, updated: 2, available: 2 });
    const short = dep({ replicas: 3, gen: 1, observed: 1, updated: 3, available: 1 });
    const a = assess(
      [rolloutOf('api', stale), rolloutOf('consumer', short), rolloutOf('producer', undefined)],
      2,
    );
    expect(a.ready).toMatchObject({ status: 'False', reason: 'ComponentsNotAvailable' });
    expect(a.ready.message).toContain('waiting for api, consumer, producer');
    expect(a.progressing).toMatchObject({ status: 'True', reason: 'RollingOut' });
  });

  it('is Degraded on an apply error or a stalled rollout', () => {
    expect(assess([rolloutOf('api', done)], 1, 'forbidden').degraded).toMatchObject({
      status: 'True',
      reason: 'ApplyFailed',
      message: 'forbidden',
    });
    const stalled = dep({ replicas: 1, gen: 1, observed: 1, updated: 1, available: 0 });
    stalled.status = {
      ...stalled.status,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    };
    expect(assess([rolloutOf('api', stalled)], 1).degraded.reason).toBe('ProgressDeadlineExceeded');
  });
});
