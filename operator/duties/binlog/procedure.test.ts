import { describe, expect, it } from 'vitest';
import type { ResumePosition } from '../../../runtime/core/binlog/validate.ts';
import { samePosition } from './checkpoint.ts';
import { begin, type ProcedureState, type Step, startFromKey, step, type Target } from './procedure.ts';

const oldKey = startFromKey({ kind: 'latest' });
const newKey = startFromKey({ kind: 'position', file: 'mariadb-bin.000007', pos: 1234 });
const target: Target = { key: newKey, position: { file: 'mariadb-bin.000007', pos: 1234, gtid: '0-1-50' } };
const seen = (
  overrides: Partial<{ producerPods: number; producerReady: number; checkpoint: ResumePosition | null }>,
) => ({
  specKey: newKey,
  producerPods: 1,
  producerReady: 1,
  checkpoint: { file: 'mariadb-bin.000009', pos: 999, gtid: '0-1-90' } as ResumePosition | null,
  ...overrides,
});

describe('startFromKey', () => {
  it('ignores property order and undefined values', () => {
    expect(startFromKey({ pos: 4, kind: 'position', file: 'f', gtid: undefined })).toBe(
      startFromKey({ kind: 'position', file: 'f', pos: 4 }),
    );
    expect(startFromKey({ kind: 'latest' })).not.toBe(startFromKey({ kind: 'earliest' }));
  });
});

describe('samePosition', () => {
  it('compares GTID and file/pos, with pos defaulting to 4', () => {
    expect(samePosition({ file: 'a.1' }, { file: 'a.1', pos: 4 })).toBe(true);
    expect(samePosition({ gtid: '0-1-5' }, { gtid: '0-1-6' })).toBe(false);
    expect(
      samePosition({ gtid: '0-1-5', file: 'a.1', pos: 9 }, { gtid: '0-1-5', file: 'a.1', pos: 10 }),
    ).toBe(false);
    expect(samePosition(null, null)).toBe(true);
    expect(samePosition(null, { file: 'a.1' })).toBe(false);
  });
});

describe('startFrom change procedure', () => {
  it('records the first startFrom without touching the producer', () => {
    const s = step({}, seen({}), samePosition);
    expect(s).toEqual({ state: { applied: newKey }, producerReplicas: 1 });
  });

  it('asks for resolution when the spec differs from what was applied', () => {
    const s = step({ applied: oldKey }, seen({}), samePosition);
    expect(s).toMatchObject({ needsResolution: true, producerReplicas: 1 });
    expect(s.write).toBeUndefined();
  });

  it('runs stop → confirm gone → rewrite → start → applied, never writing while a pod exists', () => {
    const trace: string[] = [];
    let st: ProcedureState = { applied: oldKey };
    const apply = (s: Step) => {
      st = s.state;
      trace.push(
        `${s.state.change?.phase ?? 'done'} r=${s.producerReplicas}${s.write ? ' write' : ''}${s.event ? ` ${s.event.reason}` : ''}`,
      );
      return s;
    };
    apply(begin(st, target, new Date(0)));
    apply(step(st, seen({ producerPods: 1 }), samePosition)); // still terminating
    const w = apply(step(st, seen({ producerPods: 0, producerReady: 0 }), samePosition));
    expect(w.write).toEqual({ position: target.position });
    apply(
      step(st, seen({ producerPods: 0, producerReady: 0, checkpoint: { ...target.position } }), samePosition),
    );
    apply(
      step(st, seen({ producerPods: 1, producerReady: 0, checkpoint: { ...target.position } }), samePosition),
    );
    apply(step(st, seen({ producerPods: 1, producerReady: 1 }), samePosition));
    expect(trace).toEqual([
      'StoppingProducer r=0 StartFromChangeStarted',
      'StoppingProducer r=0',
      'RewritingCheckpoint r=0 write',
      'StartingProducer r=1 CheckpointRewritten',
      'StartingProducer r=1',
      'done r=1 StartFromApplied',
    ]);
    expect(st).toEqual({ applied: newKey });
  });

  it('goes back to stopping if a producer reappears before the checkpoint is rewritten', () => {
    const st: ProcedureState = {
      applied: oldKey,
      change: { phase: 'RewritingCheckpoint', target, startedAt: new Date(0).toISOString() },
    };
    const s = step(st, seen({ producerPods: 1 }), samePosition);
    expect(s).toMatchObject({ producerReplicas: 0, state: { change: { phase: 'StoppingProducer' } } });
    expect(s.write).toBeUndefined();
  });

  it('a clear target (timestamp) removes the checkpoint, then starts the producer', () => {
    const snap: Target = { key: newKey, clear: true };
    let s = begin({ applied: newKey }, snap, new Date(0));
    s = step(s.state, seen({ producerPods: 0, producerReady: 0 }), samePosition);
    expect(s.write).toEqual({ clear: true });
    s = step(s.state, seen({ producerPods: 0, producerReady: 0, checkpoint: null }), samePosition);
    expect(s.state.change?.phase).toBe('StartingProducer');
    s = step(s.state, seen({ producerPods: 1, producerReady: 1, checkpoint: null }), samePosition);
    expect(s.state).toEqual({ applied: newKey });
  });

  it('holds the producer stopped while the checkpoint cannot be read', () => {
    const st: ProcedureState = {
      applied: oldKey,
      change: { phase: 'RewritingCheckpoint', target, startedAt: new Date(0).toISOString() },
    };
    const s = step(st, seen({ producerPods: 0, checkpoint: undefined }), samePosition);
    expect(s.producerReplicas).toBe(0);
  });
});
