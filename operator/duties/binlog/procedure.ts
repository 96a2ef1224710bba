import type { ResumePosition } from '../../../runtime/core/binlog/validate.ts';
import type { StartFromProcedure, StartFromTarget } from '../../api/v1alpha1/status.ts';

/**
 * Changing where the producer reads from, safely: the checkpoint may only be rewritten while no
 * producer is running (a running one would overwrite it with its own position on the next commit).
 *
 *   (spec differs from applied) ─resolve+validate─▶ StoppingProducer ─pods gone─▶ RewritingCheckpoint
 *        │ refused: stays, BinlogPositionValid=False          ─checkpoint == target─▶ StartingProducer
 *        ▼                                                                    ─ready─▶ done (applied)
 *
 * Pure: the reconciler passes in what it observed and applies what comes back (producer replicas,
 * a checkpoint write, an Event). Every phase is idempotent, so an operator restart or a new leader
 * picks the procedure up from status where it stopped.
 */

export type Target = StartFromTarget;

/** Kept in status.producer.startFrom: the type is the status schema's (operator/api/v1alpha1/status.ts). */
export type ProcedureState = StartFromProcedure;

export type Observed = {
  /** Key of spec.producer.startFrom as it is now. */
  specKey: string;
  /** Producer pods that exist (any phase, terminating ones included). */
  producerPods: number;
  producerReady: number;
  /** The checkpoint as stored now; undefined when unknown. */
  checkpoint: ResumePosition | null | undefined;
};

export type StepEvent = { type: 'Normal' | 'Warning'; reason: string; note: string };

export type Step = {
  state: ProcedureState;
  producerReplicas: 0 | 1;
  /** The caller writes this checkpoint (or removes it), then steps again. */
  write?: { position: ResumePosition } | { clear: true };
  /** The spec's startFrom differs from what was applied and no procedure runs: resolve it, then call begin(). */
  needsResolution?: boolean;
  event?: StepEvent;
};

/** The target's position; a target that is not `clear` always has one (begin() is given either). */
const positionOf = (t: Target): ResumePosition => t.position ?? {};

const describeTarget = (t: Target) => {
  if (t.clear) return 'no checkpoint (the producer applies startFrom itself)';
  const p = positionOf(t);
  return [p.gtid ? `GTID ${p.gtid}` : '', p.file ? `${p.file}:${p.pos ?? 4}` : '']
    .filter(Boolean)
    .join(' / ');
};

const checkpointMatches = (t: Target, cp: ResumePosition | null | undefined, same: Same) =>
  t.clear ? cp === null : cp !== undefined && cp !== null && same(cp, positionOf(t));

type Same = (a: ResumePosition, b: ResumePosition) => boolean;

/** Advances the procedure by what was observed. */
export function step(state: ProcedureState, seen: Observed, same: Same): Step {
  const change = state.change;
  if (!change) {
    // First sight of the resource: the producer starts from its spec by itself; nothing to rewrite.
    if (state.applied === undefined) return { state: { applied: seen.specKey }, producerReplicas: 1 };
    if (state.applied !== seen.specKey) return { state, producerReplicas: 1, needsResolution: true };
    return { state, producerReplicas: 1 };
  }
  switch (change.phase) {
    case 'StoppingProducer':
      if (seen.producerPods > 0) return { state, producerReplicas: 0 };
      return step({ ...state, change: { ...change, phase: 'RewritingCheckpoint' } }, seen, same);
    case 'RewritingCheckpoint':
      if (!checkpointMatches(change.target, seen.checkpoint, same)) {
        if (seen.producerPods > 0) {
          // Someone started a producer behind our back: stop it again before touching the checkpoint.
          return {
            state: { ...state, change: { ...change, phase: 'StoppingProducer' } },
            producerReplicas: 0,
          };
        }
        const t = change.target;
        return {
          state,
          producerReplicas: 0,
          write: t.clear ? { clear: true } : { position: positionOf(t) },
        };
      }
      return {
        state: { ...state, change: { ...change, phase: 'StartingProducer' } },
        producerReplicas: 1,
        event: {
          type: 'Normal',
          reason: 'CheckpointRewritten',
          note: `checkpoint set to ${describeTarget(change.target)}; starting the producer`,
        },
      };
    case 'StartingProducer':
      if (seen.producerReady < 1) return { state, producerReplicas: 1 };
      return {
        state: { applied: change.target.key },
        producerReplicas: 1,
        event: {
          type: 'Normal',
          reason: 'StartFromApplied',
          note: `producer resumed from ${describeTarget(change.target)}`,
        },
      };
  }
}

/** Starts the procedure for a resolved target (the position was validated against the server). */
export function begin(state: ProcedureState, target: Target, now: Date): Step {
  return {
    state: { ...state, change: { phase: 'StoppingProducer', target, startedAt: now.toISOString() } },
    producerReplicas: 0,
    event: {
      type: 'Normal',
      reason: 'StartFromChangeStarted',
      note: `moving the producer to ${describeTarget(target)}: stopping it first`,
    },
  };
}

/** Stable key of a startFrom object (property order does not matter). */
export function startFromKey(startFrom: Record<string, unknown>): string {
  return JSON.stringify(
    Object.keys(startFrom)
      .sort()
      .filter((k) => startFrom[k] !== undefined)
      .map((k) => [k, startFrom[k]]),
  );
}
