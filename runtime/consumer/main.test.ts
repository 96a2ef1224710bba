import { describe, expect, it } from 'vitest';
import { expectConfigRefusal } from '../../test/support/bad-config.ts';

const redisOnly = { REDIS_URL: 'redis://127.0.0.1:1/0', TOPIC_PREFIX: 'payments' };

describe('the consumer and its tools with bad configuration', () => {
  it('main.ts exits 2 with one line per bad variable', { timeout: 30_000 }, async () => {
    const lines = await expectConfigRefusal('runtime/consumer/main.ts', 'consumer', {
      ...redisOnly,
      KAFKA_BROKERS: 'kafka',
      MYSQL_URL: 'mysql://app@127.0.0.1:1/payments',
      CONSUMER_BATCH_MAX: '0',
    });
    expect(lines).toEqual([
      expect.stringMatching(
        /^consumer: invalid configuration: KAFKA_BROKERS: must be host:port.* \(got "kafka"\)$/,
      ),
      expect.stringMatching(/^consumer: invalid configuration: CONSUMER_BATCH_MAX: .*1.* \(got "0"\)$/),
    ]);
  });

  it.each([
    ['rebuild', {}],
    ['verify', { VERIFY_WAIT_SECONDS: 'long' }],
    ['repair', { USER_ID: 'not a user' }],
  ] as const)(
    '%s-main.ts exits 2 the same way',
    async (tool, extra) => {
      const lines = await expectConfigRefusal(`runtime/consumer/${tool}-main.ts`, tool, {
        ...redisOnly,
        ...extra,
      });
      expect(lines[0]).toMatch(new RegExp(`^${tool}: invalid configuration: MYSQL_URL: .* \\(unset\\)$`));
      expect(lines).toHaveLength(Object.keys(extra).length + 1);
    },
    30_000,
  );
});
