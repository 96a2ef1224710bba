/** The PaymentPipeline resource's API group, version and names (payments.example.com/v1alpha1). */
export const PIPELINE_GROUP = 'payments.example.com';
export const PIPELINE_VERSION = 'v1alpha1';
export const PIPELINE_KIND = 'PaymentPipeline';
export const PIPELINE_PLURAL = 'paymentpipelines';
export const PIPELINE_API_VERSION = `${PIPELINE_GROUP}/${PIPELINE_VERSION}`;

/** REST coordinates of the resource (operator/framework/kube/resources.ts's Resource). */
export const PIPELINE_RESOURCE = {
  group: PIPELINE_GROUP,
  version: PIPELINE_VERSION,
  plural: PIPELINE_PLURAL,
  kind: PIPELINE_KIND,
} as const;
