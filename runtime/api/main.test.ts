import { describe, expect, it } from 'vitest';
import { expectConfigRefusal } from '../../test/support/bad-config.ts';

describe('node runtime/api/main.ts with bad configuration', () => {
  it('exits 2 with one line per bad variable: its name, what it wants, what it got (secrets hidden)', {
    timeout: 30_000,
  }, async () => {
    const lines = await expectConfigRefusal('runtime/api/main.ts', 'api', {
      API_PORT: 'eighty',
      MYSQL_URL: 'mysql://app:app-secret@127.0.0.1:1/payments',
      REDIS_URL: 'redis://127.0.0.1:1/0',
      AUTH_JWT_SECRET: 'too-short',
      SHUTDOWN_TIMEOUT_MS: '-5',
    });
    expect(lines).toEqual([
      expect.stringMatching(/^api: invalid configuration: API_PORT: .*number.* \(got "eighty"\)$/),
      expect.stringMatching(
        /^api: invalid configuration: AUTH_JWT_SECRET: must be at least 32 characters \(got a hidden value of 9 characters\)$/,
      ),
      expect.stringMatching(/^api: invalid configuration: SHUTDOWN_TIMEOUT_MS: .* \(got "-5"\)$/),
    ]);
  });
});
