import { type KubeConfig, type KubernetesObject, type V1Lease, Watch } from '@kubernetes/client-node';
import { isNotFound, type KubeHttp } from './http.ts';
import type { ListResult, ListWatchSource, WatchEventType } from './informer.ts';
import type { EventSink, KubeReader, KubeWriter, LeaseStore } from './ports.ts';
import {
  KUBE_RESOURCES,
  labelSelector,
  type Resource,
  type ResourceTable,
  resourceForKind,
  resourcePath,
} from './resources.ts';

const APPLY = 'application/apply-patch+yaml'; // JSON is YAML: the body is the object as JSON

function nameOf(obj: KubernetesObject): { namespace?: string; name: string } {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${obj.kind} without metadata.name`);
  return { namespace: obj.metadata?.namespace, name };
}

/**
 * Server-side apply as `fieldManager`, for the kinds of `resources` (the built-in ones plus the
 * controller's own custom kinds).
 */
export class ClusterWriter implements KubeWriter {
  private readonly http: KubeHttp;
  private readonly fieldManager: string;
  private readonly resources: ResourceTable;

  constructor(http: KubeHttp, opts: { fieldManager: string; resources?: ResourceTable }) {
    this.http = http;
    this.fieldManager = opts.fieldManager;
    this.resources = opts.resources ?? KUBE_RESOURCES;
  }

  private path(obj: KubernetesObject, namespace: string | undefined, name: string, sub?: string): string {
    return resourcePath(resourceForKind(obj.kind ?? '', this.resources), namespace, name, sub);
  }

  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    const { namespace, name } = nameOf(obj);
    return this.http.request<T>('PATCH', this.path(obj, namespace, name), {
      query: { fieldManager: this.fieldManager, force: true },
      body: obj,
      contentType: APPLY,
    });
  }

  async applyStatus(obj: KubernetesObject & { status: unknown }): Promise<void> {
    const { namespace, name } = nameOf(obj);
    await this.http.request('PATCH', this.path(obj, namespace, name, 'status'), {
      query: { fieldManager: this.fieldManager, force: true },
      body: { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name, namespace }, status: obj.status },
      contentType: APPLY,
    });
  }

  async delete(obj: KubernetesObject): Promise<boolean> {
    const { namespace, name } = nameOf(obj);
    try {
      await this.http.request('DELETE', this.path(obj, namespace, name), {
        body: { propagationPolicy: 'Background' },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

export class ClusterEvents implements EventSink {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  async create(namespace: string, event: Record<string, unknown>): Promise<void> {
    await this.http.request('POST', resourcePath(KUBE_RESOURCES.Event, namespace), { body: event });
  }
}

export class ClusterLeases implements LeaseStore {
  private readonly http: KubeHttp;
  constructor(http: KubeHttp) {
    this.http = http;
  }

  async get(namespace: string, name: string): Promise<V1Lease | undefined> {
    try {
      return await this.http.request<V1Lease>('GET', resourcePath(KUBE_RESOURCES.Lease, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  create(lease: V1Lease): Promise<V1Lease> {
    return this.http.request('POST', resourcePath(KUBE_RESOURCES.Lease, lease.metadata?.namespace), {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
    });
  }

  replace(lease: V1Lease): Promise<V1Lease> {
    const { namespace, name } = nameOf(lease);
    return this.http.request('PUT', resourcePath(KUBE_RESOURCES.Lease, namespace, name), {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
    });
  }
}

/** Direct reads of the kinds of `resources` (404 is undefined, not an error). */
export class ClusterReader implements KubeReader {
  private readonly http: KubeHttp;
  private readonly resources: ResourceTable;

  constructor(http: KubeHttp, resources: ResourceTable = KUBE_RESOURCES) {
    this.http = http;
    this.resources = resources;
  }

  async get<T extends KubernetesObject>(
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.http.request<T>(
        'GET',
        resourcePath(resourceForKind(kind, this.resources), namespace, name),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubernetesObject>(
    kind: string,
    namespace: string,
    labels: Record<string, string> = {},
  ): Promise<T[]> {
    const selector = labelSelector(labels);
    const page = await this.http.request<{ items: T[] }>(
      'GET',
      resourcePath(resourceForKind(kind, this.resources), namespace),
      { query: { labelSelector: selector || undefined } },
    );
    return page.items;
  }
}

/**
 * List + watch of one resource (optionally one namespace and a label selector). Watches ask the server
 * to close them after `watchTimeoutSeconds` (before client-node's 30 s inactivity abort) and to send
 * bookmarks, so resuming needs no relist.
 */
export function listWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  http: KubeHttp,
  resource: Resource,
  opts: { namespace?: string; labelSelector?: string; watchTimeoutSeconds?: number } = {},
): ListWatchSource<T> {
  const path = resourcePath(resource, opts.namespace);
  const watcher = new Watch(kc);
  const apiVersion = resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
  return {
    async list(): Promise<ListResult<T>> {
      const items: T[] = [];
      let cont: string | undefined;
      let resourceVersion = '';
      do {
        const page = await http.request<{
          items: T[];
          metadata: { resourceVersion: string; continue?: string };
        }>('GET', path, { query: { labelSelector: opts.labelSelector, limit: 500, continue: cont } });
        // List items carry no apiVersion/kind; restore them so cached objects look like watched ones.
        for (const item of page.items) items.push({ ...item, apiVersion, kind: resource.kind });
        resourceVersion = page.metadata.resourceVersion;
        cont = page.metadata.continue || undefined;
      } while (cont);
      return { items, resourceVersion };
    },
    async watch(resourceVersion, onEvent, done) {
      const controller = await watcher.watch(
        path,
        {
          resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: opts.labelSelector,
          timeoutSeconds: opts.watchTimeoutSeconds ?? 25,
        },
        (type: string, obj: T) => onEvent(type as WatchEventType, obj),
        (err: unknown) => done(err ?? undefined),
      );
      return { abort: () => controller.abort() };
    },
  };
}
