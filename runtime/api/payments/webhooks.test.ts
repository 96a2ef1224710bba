import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { signPayload, verifySignature } from './webhooks.ts';

const secret = 'whsec_unit_0123456789';
const body = '{"id":"evt_1"}';
const t = 1_800_000_000;

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof ApiError ? err.code : 'not an ApiError';
  }
}

describe('verifySignature', () => {
  it('accepts a fresh signature over the exact body', () => {
    expect(
      codeOf(() => verifySignature(secret, signPayload(secret, body, t), body, 300, t + 299)),
    ).toBeNull();
  });

  it('accepts any of several v1 signatures (secret rotation)', () => {
    const header = `${signPayload('old-secret-value-123', body, t)},v1=${signPayload(secret, body, t).split('v1=')[1]}`;
    expect(codeOf(() => verifySignature(secret, header, body, 300, t))).toBeNull();
  });

  it.each([
    [undefined, 'signature_missing'],
    ['v1=00', 'signature_malformed'],
    ['t=abc,v1=00', 'signature_malformed'],
    [signPayload(secret, body, t - 301), 'signature_expired'],
    [signPayload('another-secret-123', body, t), 'signature_invalid'],
    [signPayload(secret, `${body} `, t), 'signature_invalid'],
    [`t=${t},v1=${'0'.repeat(64)}`, 'signature_invalid'],
    [`t=${t}`, 'signature_invalid'],
  ])('refuses %s with %s', (header, code) => {
    expect(codeOf(() => verifySignature(secret, header, body, 300, t))).toBe(code);
  });
});
