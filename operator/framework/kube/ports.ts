import type { KubernetesObject, V1Lease } from '@kubernetes/client-node';

/** What the reconciler writes. The real implementation is kube/cluster.ts; unit tests use fakes. */
export interface KubeWriter {
  /** Server-side apply with the operator's field manager (force: the operator owns these fields). */
  apply<T extends KubernetesObject>(obj: T): Promise<T>;
  /** Server-side apply of the status subresource of a namespaced custom object. */
  applyStatus(obj: KubernetesObject & { status: unknown }): Promise<void>;
  /** Deletes an object; false when it did not exist. */
  delete(obj: KubernetesObject): Promise<boolean>;
}

/** events.k8s.io/v1 Event creation. */
export interface EventSink {
  create(namespace: string, event: Record<string, unknown>): Promise<void>;
}

/** Lease reads and optimistic-concurrency writes (create/replace fail with 409 on a lost race). */
export interface LeaseStore {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(lease: V1Lease): Promise<V1Lease>;
  replace(lease: V1Lease): Promise<V1Lease>;
}

/** Reads from the API server directly (not from an informer cache): for what is read rarely. */
export interface KubeReader {
  /** One object; undefined when it does not exist. */
  get<T extends KubernetesObject>(kind: string, namespace: string, name: string): Promise<T | undefined>;
  /** The objects of a kind in a namespace that carry all of `labels`. */
  list<T extends KubernetesObject>(
    kind: string,
    namespace: string,
    labels?: Record<string, string>,
  ): Promise<T[]>;
}
