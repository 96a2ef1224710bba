import { PIPELINE_RESOURCE } from '../api/v1alpha1/group.ts';
import { KUBE_RESOURCES, type ResourceTable } from '../framework/kube/resources.ts';

/** Every kind the operator reads or writes: the built-in ones and its own PaymentPipeline. */
export const RESOURCES = {
  ...KUBE_RESOURCES,
  PaymentPipeline: PIPELINE_RESOURCE,
} as const satisfies ResourceTable;
