import { describe, expect, it } from 'vitest';
import { expectConfigRefusal } from '../test/support/bad-config.ts';

describe('node operator/main.ts with bad configuration', () => {
  it('exits 2 with one line per bad variable (no stack trace)', { timeout: 30_000 }, async () => {
    const lines = await expectConfigRefusal('operator/main.ts', 'operator', {
      WATCH_NAMESPACE: 'Payments',
      LEASE_DURATION_SECONDS: '1',
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    });
    expect(lines).toEqual([
      expect.stringMatching(/^operator: invalid configuration: WATCH_NAMESPACE: .* \(got "Payments"\)$/),
      expect.stringMatching(/^operator: invalid configuration: LEASE_DURATION_SECONDS: .*2.* \(got "1"\)$/),
      expect.stringMatching(
        /^operator: invalid configuration: KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL \(unset\)$/,
      ),
      expect.stringMatching(
        /^operator: invalid configuration: KAFKA_SASL_PASSWORD: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL \(unset\)$/,
      ),
    ]);
  });
});
