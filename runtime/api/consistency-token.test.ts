import { describe, expect, it } from 'vitest';
import { encodeToken } from '../core/position.ts';
import { createTokenSigner, deriveTokenSecret } from './consistency-token.ts';

const signer = createTokenSigner('k'.repeat(32));
const token = { gtid: '0-1-42', rows: ['purchases:pur_1', 'payments:pay_1'] };

describe('consistency token signatures', () => {
  it('verify for the user they were made for', () => {
    expect(signer.verify('alice', signer.sign('alice', token))).toEqual(token);
  });

  it('refuse another user, another key, edits and unsigned or malformed tokens', () => {
    const signed = signer.sign('alice', token);
    const [payload, mac] = signed.split('.');
    expect(signer.verify('bob', signed)).toBeNull();
    expect(signer.verify('Alice', signed)).toBeNull();
    expect(createTokenSigner('j'.repeat(32)).verify('alice', signed)).toBeNull();
    expect(signer.verify('alice', `${encodeToken({ ...token, gtid: '0-1-43' })}.${mac}`)).toBeNull();
    expect(signer.verify('alice', payload ?? '')).toBeNull();
    expect(signer.verify('alice', `${payload}.${mac?.slice(1)}`)).toBeNull();
    expect(signer.verify('alice', `${payload}.${'A'.repeat(43)}`)).toBeNull();
    expect(signer.verify('alice', `${payload}.${mac}.`)).toBeNull();
    expect(signer.verify('alice', '')).toBeNull();
    expect(signer.verify('alice', `.${mac}`)).toBeNull();
  });

  it('cannot move bytes between the user and the payload', () => {
    expect(signer.sign('a', token)).not.toBe(signer.sign('a:', token));
  });

  it('derive a stable development key that is not the JWT secret', () => {
    const jwt = 's'.repeat(32);
    expect(deriveTokenSecret(jwt)).toBe(deriveTokenSecret(jwt));
    expect(deriveTokenSecret(jwt)).not.toContain(jwt);
    expect(deriveTokenSecret(jwt)).not.toBe(deriveTokenSecret('t'.repeat(32)));
  });
});
