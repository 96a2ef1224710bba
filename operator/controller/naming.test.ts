import { describe, expect, it } from 'vitest';
import { pipelineSpec } from '../api/v1alpha1/spec.ts';
import { consumedTopics, consumerGroup, producerName } from './naming.ts';

const spec = pipelineSpec.parse({
  image: 'payments:dev',
  mysql: {
    host: 'db',
    database: 'shop',
    credentialsSecret: 'db',
    serverId: 7,
    tables: ['customers', 'packages', 'purchases', 'payments'],
  },
  kafka: { bootstrap: 'kafka:9092', topicPrefix: 'pay.eu' },
  redis: { url: 'redis://r:6379' },
  api: { authSecret: 'jwt' },
});

describe('pipeline naming', () => {
  it('keeps the names the services defaulted to, so existing checkpoints and offsets stay valid', () => {
    expect(producerName(spec)).toBe('pay.eu');
    expect(consumerGroup(spec)).toBe('pay.eu.consumer');
  });

  it('counts only the captured topics the consumer reads (customers is captured, not cached)', () => {
    expect(consumedTopics(spec)).toEqual([
      'pay.eu.shop.packages',
      'pay.eu.shop.purchases',
      'pay.eu.shop.payments',
    ]);
  });
});
