import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../runtime/core/logger.ts';
import type { EventSink } from './kube/ports.ts';

const randomTail = () =>
  Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0');

export type EventType = 'Normal' | 'Warning';

/** MicroTime as the API server wants it: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Records events.k8s.io/v1 Events about a PaymentPipeline. Best effort: a failed Event is logged and
 * never fails a reconcile. Identical events within `dedupMs` are dropped so a retry loop does not
 * flood the namespace.
 */
export class EventRecorder {
  private readonly sink: EventSink;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly controller: string;
  private readonly recent = new Map<string, number>();
  private readonly dedupMs: number;
  private readonly now: () => Date;

  constructor(opts: {
    sink: EventSink;
    log: Logger;
    /** reportingController: `<domain>/<name>` of the controller. */
    controller: string;
    /** reportingInstance: this replica. */
    instance: string;
    dedupMs?: number;
    now?: () => Date;
  }) {
    this.sink = opts.sink;
    this.controller = opts.controller;
    this.log = opts.log;
    this.instance = opts.instance;
    this.dedupMs = opts.dedupMs ?? 60_000;
    this.now = opts.now ?? (() => new Date());
  }

  async record(regarding: KubernetesObject, type: EventType, reason: string, action: string, note: string) {
    const ns = regarding.metadata?.namespace ?? 'default';
    const name = regarding.metadata?.name ?? '';
    const key = `${ns}/${name}/${type}/${reason}/${note}`;
    const now = this.now();
    const last = this.recent.get(key);
    if (last !== undefined && now.getTime() - last < this.dedupMs) return;
    this.recent.set(key, now.getTime());
    if (this.recent.size > 1000) {
      for (const [k, at] of this.recent) if (now.getTime() - at >= this.dedupMs) this.recent.delete(k);
    }
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // client-go's naming (<object>.<hex nanoseconds>), plus a random tail for events in the same ms;
      // the API server refuses generateName values ending in '.'.
      metadata: {
        name: `${name}.${(BigInt(now.getTime()) * 1_000_000n).toString(16)}${randomTail()}`,
        namespace: ns,
      },
      eventTime: microTime(now),
      type,
      reason,
      action,
      note: note.slice(0, 1024),
      reportingController: this.controller,
      reportingInstance: this.instance.slice(0, 128),
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name,
        namespace: ns,
        uid: regarding.metadata?.uid,
        resourceVersion: regarding.metadata?.resourceVersion,
      },
    };
    try {
      await this.sink.create(ns, event);
    } catch (err) {
      this.log.warn({ err, reason, regarding: `${ns}/${name}` }, 'could not record event');
    }
  }
}
