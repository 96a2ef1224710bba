import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer, InformerHandler } from './informer.ts';

/** What the controller reads from an informer. */
export interface ObjectCache<T extends KubernetesObject> {
  on(handler: InformerHandler<T>): void;
  get(key: string): T | undefined;
  list(): T[];
  start(): void;
  stop(): void;
  waitForSync(): Promise<void>;
}

/**
 * Informers of one kind, one per watched namespace, read as one cache. Each keeps its own
 * resourceVersion: versions of separate lists and watches are never mixed.
 */
export class InformerGroup<T extends KubernetesObject> implements ObjectCache<T> {
  private readonly members: readonly Informer<T>[];

  constructor(members: readonly Informer<T>[]) {
    this.members = members;
  }

  on(handler: InformerHandler<T>): void {
    for (const m of this.members) m.on(handler);
  }

  get(key: string): T | undefined {
    for (const m of this.members) {
      const obj = m.get(key);
      if (obj) return obj;
    }
    return undefined;
  }

  list(): T[] {
    return this.members.flatMap((m) => m.list());
  }

  start(): void {
    for (const m of this.members) m.start();
  }

  stop(): void {
    for (const m of this.members) m.stop();
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.members.map((m) => m.waitForSync()));
  }
}
