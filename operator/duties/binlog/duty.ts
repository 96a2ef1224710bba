import { readServerBinlogState, type ServerBinlogState } from '../../../runtime/core/binlog/server.ts';
import { type PositionVerdict, validatePosition } from '../../../runtime/core/binlog/validate.ts';
import type { Pool } from '../../../runtime/core/db/pool.ts';
import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import type { PipelineCondition, PipelineStatus } from '../../api/v1alpha1/status.ts';
import { type Checkpoint, type CheckpointStore, samePosition } from './checkpoint.ts';
import { secondsBehindSource } from './lag.ts';
import type { BinlogMetrics } from './metrics.ts';
import { begin, type ProcedureState, type StepEvent, startFromKey, step } from './procedure.ts';
import { SPEC_REMEDIES } from './remedies.ts';
import { resolveStartFrom } from './resolve.ts';

export type PipelineKey = { namespace: string; name: string };
type ProducerStatus = Pick<NonNullable<PipelineStatus['producer']>, 'position' | 'secondsBehindSource'>;
type Condition = Omit<PipelineCondition, 'lastTransitionTime' | 'type'> & { type: 'BinlogPositionValid' };

export type BinlogDutyResult = {
  /** Producer Deployment replicas: 0 while a startFrom change needs it stopped. */
  producerReplicas: 0 | 1;
  status: ProducerStatus & { startFrom: ProcedureState };
  condition: Condition;
  events: StepEvent[];
  /** Come back soon while a change is in progress, otherwise at the refresh interval. */
  requeueAfterMs: number;
};

/** The procedure state kept in status.producer.startFrom (absent before the first reconcile). */
export function procedureOf(status: PipelineStatus | undefined): ProcedureState {
  return status?.producer?.startFrom ?? {};
}

/** Producer replicas implied by the procedure state alone (used until the duties have run once). */
export function producerReplicasFromStatus(status: PipelineStatus | undefined): 0 | 1 {
  const change = procedureOf(status).change;
  return change && change.phase !== 'StartingProducer' ? 0 : 1;
}

/**
 * Binlog position duties, one call per reconcile and pipeline: reports the producer's checkpoint,
 * its delay and whether the server still has it; applies a changed spec.producer.startFrom through
 * the stop → confirm gone → rewrite → start procedure.
 */
export function createBinlogDuty(deps: {
  source: (key: PipelineKey, spec: PipelineSpec) => Promise<Pool>;
  checkpoints: (spec: PipelineSpec) => CheckpointStore;
  /** Producer pods that exist, terminating ones included. */
  producerPods: (key: PipelineKey) => Promise<number>;
  metrics?: BinlogMetrics;
  now?: () => Date;
  refreshMs?: number;
  busyRefreshMs?: number;
}) {
  const now = deps.now ?? (() => new Date());
  const lastWarning = new Map<string, string>();
  const id = (k: PipelineKey) => `${k.namespace}/${k.name}`;

  /**
   * A Warning once per distinct problem — `about` names it (the refused spec, the invalid checkpoint),
   * since messages quote live server state that changes on every reconcile.
   */
  function warnOnce(key: PipelineKey, events: StepEvent[], about: string, reason: string, note: string) {
    if (lastWarning.get(id(key)) === `${reason}:${about}`) return;
    lastWarning.set(id(key), `${reason}:${about}`);
    events.push({ type: 'Warning', reason, note });
  }

  return {
    async run(
      key: PipelineKey,
      spec: PipelineSpec,
      status: PipelineStatus | undefined,
      producer: { readyReplicas: number },
    ): Promise<BinlogDutyResult> {
      const events: StepEvent[] = [];
      const store = deps.checkpoints(spec);
      const specKey = startFromKey(spec.producer.startFrom);
      let state = procedureOf(status);
      let replicas: 0 | 1 = state.change && state.change.phase !== 'StartingProducer' ? 0 : 1;

      let checkpoint: Checkpoint | null | undefined;
      let checkpointError: string | undefined;
      const readCheckpoint = async () => {
        try {
          checkpoint = await store.read();
          checkpointError = undefined;
        } catch (err) {
          checkpoint = undefined;
          checkpointError = (err as Error).message;
        }
      };
      await readCheckpoint();

      let pool: Pool | undefined;
      let server: ServerBinlogState | undefined;
      let sourceError: string | undefined;
      try {
        pool = await deps.source(key, spec);
        server = await readServerBinlogState(pool);
      } catch (err) {
        sourceError = (err as Error).message;
      }

      let refusal: Condition | undefined;
      // A few steps per reconcile: e.g. "pods gone" → write → "checkpoint matches" → start.
      for (let i = 0; i < 6; i++) {
        const pods = state.change ? await deps.producerPods(key) : producer.readyReplicas;
        const s = step(
          state,
          {
            specKey,
            producerPods: pods,
            producerReady: producer.readyReplicas,
            checkpoint: checkpoint === undefined ? undefined : (checkpoint?.position ?? null),
          },
          samePosition,
        );
        state = s.state;
        replicas = s.producerReplicas;
        if (s.event) {
          events.push(s.event);
          deps.metrics?.step(key.namespace, key.name, s.event.reason);
        }
        if (s.needsResolution) {
          if (!pool) {
            refusal = unknown('SourceUnreachable', `cannot check the new startFrom: ${sourceError}`);
            break;
          }
          const r = await resolveStartFrom(pool, spec.producer.startFrom, spec.producer.snapshot);
          if (!r.ok) {
            const message = `startFrom refused: ${r.verdict.message}. Remedy: ${r.verdict.remedy}`;
            refusal = { type: 'BinlogPositionValid', status: 'False', reason: 'StartFromRefused', message };
            warnOnce(key, events, specKey, 'StartFromRefused', message);
            deps.metrics?.step(key.namespace, key.name, 'StartFromRefused');
            break;
          }
          const b = begin(
            state,
            'clear' in r ? { key: specKey, clear: true } : { key: specKey, position: r.position },
            now(),
          );
          state = b.state;
          replicas = b.producerReplicas;
          if (b.event) {
            events.push(b.event);
            deps.metrics?.step(key.namespace, key.name, b.event.reason);
          }
          continue;
        }
        if (s.write) {
          if ('clear' in s.write) await store.clear();
          else await store.write(s.write.position);
          await readCheckpoint();
          continue;
        }
        break;
      }

      const cp = checkpoint ?? undefined;
      const behind = cp && server ? secondsBehindSource(cp, server) : undefined;
      let condition: Condition;
      if (refusal) condition = refusal;
      else if (state.change) {
        condition = unknown('ChangingStartFrom', `startFrom change in progress: ${state.change.phase}`);
      } else if (sourceError !== undefined) condition = unknown('SourceUnreachable', sourceError);
      else if (checkpointError !== undefined) condition = unknown('CheckpointUnreadable', checkpointError);
      else if (!cp || !server)
        condition = unknown('NoCheckpoint', 'the producer has not written a checkpoint yet');
      else condition = fromVerdict(validatePosition(cp.position, server, SPEC_REMEDIES), spec);
      if (condition.status === 'False' && condition.reason !== 'StartFromRefused') {
        warnOnce(key, events, JSON.stringify(cp?.position ?? null), condition.reason, condition.message);
      }
      if (condition.status === 'True') lastWarning.delete(id(key));
      deps.metrics?.position(key.namespace, key.name, condition.status === 'True', behind);

      return {
        producerReplicas: replicas,
        status: {
          ...(cp?.position.file !== undefined
            ? {
                position: {
                  gtid: cp.position.gtid ?? null,
                  file: cp.position.file,
                  pos: cp.position.pos ?? 4,
                },
              }
            : {}),
          ...(behind !== undefined ? { secondsBehindSource: behind } : {}),
          startFrom: state,
        },
        condition,
        events,
        requeueAfterMs: state.change ? (deps.busyRefreshMs ?? 2000) : (deps.refreshMs ?? 15_000),
      };
    },
    forget(key: PipelineKey) {
      lastWarning.delete(id(key));
      deps.metrics?.forget(key.namespace, key.name);
    },
  };
}

export type BinlogDuty = ReturnType<typeof createBinlogDuty>;

function unknown(reason: string, message: string): Condition {
  return { type: 'BinlogPositionValid', status: 'Unknown', reason, message };
}

function fromVerdict(v: PositionVerdict, spec: PipelineSpec): Condition {
  if (v.valid)
    return { type: 'BinlogPositionValid', status: 'True', reason: 'PositionAvailable', message: v.message };
  if (v.purged && spec.producer.snapshot === 'when_needed') {
    return {
      type: 'BinlogPositionValid',
      status: 'False',
      reason: 'PurgedResnapshotting',
      message: `${v.message}; the producer takes a new snapshot and continues from the head (producer.snapshot=when_needed)`,
    };
  }
  return {
    type: 'BinlogPositionValid',
    status: 'False',
    reason: v.reason,
    message: `${v.message}. Remedy: ${v.remedy}`,
  };
}
