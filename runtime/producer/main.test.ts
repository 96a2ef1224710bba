import { describe, expect, it } from 'vitest';
import { expectConfigRefusal } from '../../test/support/bad-config.ts';

describe('node runtime/producer/main.ts with bad configuration', () => {
  it('exits 2 with one line per bad variable, credentials in URLs hidden', { timeout: 30_000 }, async () => {
    const lines = await expectConfigRefusal('runtime/producer/main.ts', 'producer', {
      MYSQL_CDC_URL: 'postgres://cdc:cdc-secret@127.0.0.1:1/payments',
      KAFKA_BROKERS: '127.0.0.1:1',
      TOPIC_PREFIX: 'payments',
      PRODUCER_SERVER_ID: '0',
      PRODUCER_LINGER_MS: 'soon',
    });
    expect(lines).toEqual([
      expect.stringMatching(
        /^producer: invalid configuration: MYSQL_CDC_URL: must be a mysql:\/\/ URL \(got "postgres:\/\/cdc:\*\*\*@127.0.0.1:1\/payments"\)$/,
      ),
      expect.stringMatching(/^producer: invalid configuration: PRODUCER_SERVER_ID: .*1.* \(got "0"\)$/),
      expect.stringMatching(
        /^producer: invalid configuration: PRODUCER_LINGER_MS: .*number.* \(got "soon"\)$/,
      ),
    ]);
    expect(lines.join('\n')).not.toContain('cdc-secret');
  });
});
