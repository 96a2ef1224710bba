import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/core/logger.ts';
import { EventRecorder, microTime } from './events.ts';

const regarding = {
  apiVersion: 'payments.example.com/v1alpha1',
  kind: 'PaymentPipeline',
  metadata: { name: 'shop', namespace: 'pay', uid: 'u1' },
};

describe('EventRecorder', () => {
  it('writes events.k8s.io/v1 Events with a MicroTime and the reporting controller', async () => {
    const sent: Record<string, unknown>[] = [];
    const rec = new EventRecorder({
      sink: { create: async (_ns, e) => void sent.push(e) },
      log: createLogger('test', 'silent'),
      controller: 'payments.example.com/payment-pipeline-operator',
      instance: 'op-1',
      now: () => new Date('2026-01-01T10:00:00.123Z'),
    });
    await rec.record(regarding, 'Normal', 'Created', 'Apply', 'Deployment/shop-api');
    expect(sent[0]).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      metadata: { name: expect.stringMatching(/^shop\.[0-9a-f]+$/), namespace: 'pay' },
      eventTime: '2026-01-01T10:00:00.123000Z',
      type: 'Normal',
      reason: 'Created',
      action: 'Apply',
      reportingController: 'payments.example.com/payment-pipeline-operator',
      reportingInstance: 'op-1',
      regarding: { kind: 'PaymentPipeline', name: 'shop', namespace: 'pay', uid: 'u1' },
    });
    expect(microTime(new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00.000000Z');
  });

  it('drops repeats within the window and never throws when the API refuses', async () => {
    let t = 0;
    let calls = 0;
    const rec = new EventRecorder({
      sink: {
        create: async () => {
          calls += 1;
          throw new Error('forbidden');
        },
      },
      log: createLogger('test', 'silent'),
      controller: 'payments.example.com/payment-pipeline-operator',
      instance: 'op-1',
      dedupMs: 1000,
      now: () => new Date(t),
    });
    await rec.record(regarding, 'Warning', 'ApplyFailed', 'Apply', 'boom');
    await rec.record(regarding, 'Warning', 'ApplyFailed', 'Apply', 'boom');
    t = 1500;
    await rec.record(regarding, 'Warning', 'ApplyFailed', 'Apply', 'boom');
    expect(calls).toBe(2);
  });
});
