import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listWatch } from '../../operator/framework/kube/cluster.ts';
import { Informer, type ListWatchSource } from '../../operator/framework/kube/informer.ts';
import { KUBE_RESOURCES } from '../../operator/framework/kube/resources.ts';
import { createLogger } from '../../runtime/core/logger.ts';
import { createNamespace, deleteNamespace, type Kube, kubeClient, kubeConfig, waitFor } from './support.ts';

// The informer against the real API server, with watches the server closes every second: it must
// resume each watch from the last resourceVersion (no relist, no lost or repeated change).

const kc = kubeConfig();
const kube: Kube = kubeClient(kc);
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(kube, 'op-informer');
});
afterAll(async () => {
  if (ns) await deleteNamespace(kube, ns);
});

describe('Informer on a real API server', () => {
  it('resumes closed watches from their resourceVersion without relisting or losing changes', async () => {
    const real = listWatch<KubernetesObject>(kc, kube.http, KUBE_RESOURCES.ConfigMap, {
      namespace: ns,
      labelSelector: 'informer-test=yes',
      watchTimeoutSeconds: 1,
    });
    const calls = { lists: 0, watches: [] as string[] };
    const counted: ListWatchSource<KubernetesObject> = {
      list: () => {
        calls.lists += 1;
        return real.list();
      },
      watch: (rv, onEvent, done) => {
        calls.watches.push(rv);
        return real.watch(rv, onEvent, done);
      },
    };
    const informer = new Informer({
      resource: 'ConfigMap',
      source: counted,
      log: createLogger('test', 'warn'),
    });
    const seen: string[] = [];
    informer.on((type, o) => seen.push(`${type} ${o.metadata?.name}`));
    informer.start();
    try {
      await informer.waitForSync();
      const cm = (name: string, v: string) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, labels: { 'informer-test': 'yes' } },
        data: { v },
      });
      // Changes spread over ~4 s, so they straddle several server-closed watches.
      for (let i = 0; i < 4; i++) {
        await kube.create('ConfigMap', ns, cm(`c${i}`, '1'));
        await new Promise((r) => setTimeout(r, 500));
        await kube.mergePatch('ConfigMap', ns, `c${i}`, { data: { v: '2' } });
        await new Promise((r) => setTimeout(r, 500));
      }
      await kube.delete('ConfigMap', ns, 'c0');
      await waitFor('all changes seen', () => seen.length === 9, 15_000);
      expect(seen).toEqual([
        'ADDED c0',
        'MODIFIED c0',
        'ADDED c1',
        'MODIFIED c1',
        'ADDED c2',
        'MODIFIED c2',
        'ADDED c3',
        'MODIFIED c3',
        'DELETED c0',
      ]);
      expect(calls.lists).toBe(1);
      expect(calls.watches.length).toBeGreaterThanOrEqual(3);
      // Every watch after the first resumed from a newer resourceVersion than the list's.
      expect(new Set(calls.watches).size).toBeGreaterThan(1);
      expect(informer.get(`${ns}/c3`)?.metadata?.resourceVersion).toBeDefined();
      expect(informer.get(`${ns}/c0`)).toBeUndefined();
    } finally {
      informer.stop();
    }
  });
});
