import type { KubernetesObject } from '@kubernetes/client-node';
import type { PipelineStatus } from './status.ts';

/**
 * A PaymentPipeline as the API server and the informer cache hold it. The spec is left unknown:
 * the reconciler and the duties parse it with `pipelineSpec` (spec.ts) before using it.
 */
export type PaymentPipeline = KubernetesObject & { spec?: unknown; status?: PipelineStatus };
