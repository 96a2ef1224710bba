import { PIPELINE_GROUP } from '../api/v1alpha1/group.ts';

/** Labels and names shared by the children builder, the controller's watches and the tests. */
export const FIELD_MANAGER = 'payment-pipeline-operator';
/** events.k8s.io reportingController of the operator's Events. */
export const REPORTING_CONTROLLER = `${PIPELINE_GROUP}/${FIELD_MANAGER}`;
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': FIELD_MANAGER } as const;
export const MANAGED_BY_SELECTOR = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;
export const CONFIG_HASH_ANNOTATION = `${PIPELINE_GROUP}/config-hash`;

export type Component = 'api' | 'producer' | 'consumer';

export function instanceLabels(pipeline: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'payment-pipeline',
    'app.kubernetes.io/instance': pipeline,
    ...MANAGED_BY,
  };
}

export function componentLabels(pipeline: string, component: Component): Record<string, string> {
  return { ...instanceLabels(pipeline), 'app.kubernetes.io/component': component };
}

/** Selector labels never change after creation (Deployment selectors are immutable). */
export function selectorLabels(pipeline: string, component: Component): Record<string, string> {
  return { 'app.kubernetes.io/instance': pipeline, 'app.kubernetes.io/component': component };
}

export const childName = (pipeline: string, part: string) => `${pipeline}-${part}`;
