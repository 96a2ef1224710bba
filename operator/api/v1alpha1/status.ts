import { z } from 'zod';

/** What the operator reports in a PaymentPipeline's status subresource (crds/generate.ts turns it into the CRD's status schema). */

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'BinlogPositionValid'] as const;

export const pipelineCondition = z.object({
  type: z.enum(CONDITION_TYPES),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime(),
});
export type PipelineCondition = z.infer<typeof pipelineCondition>;

/** A position to resume from, as the startFrom procedure records it (core/binlog/validate.ts ResumePosition). */
const resumePosition = z.object({
  gtid: z.string().max(4096).nullable().optional(),
  file: z.string().max(255).optional(),
  pos: z.int().min(0).optional(),
});

export const PROCEDURE_PHASES = ['StoppingProducer', 'RewritingCheckpoint', 'StartingProducer'] as const;
export type ProcedurePhase = (typeof PROCEDURE_PHASES)[number];

/** Where a startFrom change moves the checkpoint: to `position`, or away (`clear`: the producer applies startFrom itself). */
const startFromTarget = z.object({
  key: z.string().max(8192),
  position: resumePosition.optional(),
  clear: z.boolean().optional(),
});
export type StartFromTarget = z.infer<typeof startFromTarget>;

/**
 * State of the startFrom change procedure (operator/binlog/procedure.ts), kept in status so a new
 * leader resumes it. The procedure's own type is this schema's: one definition.
 */
export const startFromProcedure = z.object({
  applied: z.string().max(8192).optional().describe('canonical form of the startFrom last applied'),
  change: z
    .object({
      phase: z.enum(PROCEDURE_PHASES),
      target: startFromTarget,
      startedAt: z.iso.datetime(),
    })
    .optional(),
});
export type StartFromProcedure = z.infer<typeof startFromProcedure>;

export const pipelineStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: z
    .array(pipelineCondition)
    .max(16)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  producer: z
    .object({
      position: z
        .object({ gtid: z.string().nullable().optional(), file: z.string(), pos: z.int().min(0) })
        .optional(),
      secondsBehindSource: z.number().min(0).optional(),
      readyReplicas: z.int().min(0).optional(),
      startFrom: startFromProcedure.optional(),
    })
    .optional(),
  consumer: z
    .object({
      lag: z.int().min(0).optional(),
      lagState: z
        .enum(['Known', 'NoCommittedOffsets', 'TopicsMissing', 'Unavailable'])
        .optional()
        .describe('whether lag could be read from the broker; lag is absent unless Known'),
      desiredReplicas: z.int().min(0).optional(),
      currentReplicas: z.int().min(0).optional(),
      readyReplicas: z.int().min(0).optional(),
      lastScaleTime: z.iso.datetime().optional(),
    })
    .optional(),
  api: z.object({ readyReplicas: z.int().min(0).optional(), replicas: z.int().min(0).optional() }).optional(),
});
export type PipelineStatus = z.infer<typeof pipelineStatus>;
