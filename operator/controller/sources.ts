import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { PaymentPipeline } from '../api/v1alpha1/types.ts';
import { listWatch } from '../framework/kube/cluster.ts';
import type { KubeHttp } from '../framework/kube/http.ts';
import type { Resource } from '../framework/kube/resources.ts';
import type { ChildKind, ControllerOptions } from './controller.ts';
import { MANAGED_BY_SELECTOR } from './labels.ts';
import { RESOURCES } from './resources.ts';

/**
 * What the controller watches on the API server: the pipelines, their children and the components'
 * pods (the last two by the managed-by label). One list+watch per watched namespace (namespaced RBAC
 * grants no cluster-wide list), or one for all namespaces when `namespaces` is empty.
 */
export function clusterSources(
  kc: KubeConfig,
  http: KubeHttp,
  opts: { namespaces: readonly string[]; watchTimeoutSeconds: number },
): Pick<ControllerOptions, 'pipelines' | 'children' | 'pods'> {
  const namespaces = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
  const sources = <T extends KubernetesObject>(resource: Resource, labelSelector?: string) =>
    namespaces.map((namespace) =>
      listWatch<T>(kc, http, resource, {
        ...(namespace ? { namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        watchTimeoutSeconds: opts.watchTimeoutSeconds,
      }),
    );
  const children = (kind: ChildKind) => sources(RESOURCES[kind], MANAGED_BY_SELECTOR);
  return {
    pipelines: sources<PaymentPipeline>(RESOURCES.PaymentPipeline),
    children: {
      Deployment: children('Deployment'),
      ConfigMap: children('ConfigMap'),
      Service: children('Service'),
      PodDisruptionBudget: children('PodDisruptionBudget'),
      NetworkPolicy: children('NetworkPolicy'),
    },
    pods: sources<V1Pod>(RESOURCES.Pod, MANAGED_BY_SELECTOR),
  };
}
