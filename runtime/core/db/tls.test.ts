import { describe, expect, it } from 'vitest';
import { mysqlEndpoint } from './pool.ts';
import { mysqlTlsOf } from './tls.ts';

describe('MySQL TLS settings from the URL', () => {
  it('is plaintext without ssl-* parameters or with ssl-mode=DISABLED', () => {
    expect(mysqlTlsOf(new URL('mysql://u:p@db:3306/x'))).toBeUndefined();
    expect(mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-mode=disabled'))).toBeUndefined();
    expect(mysqlEndpoint('mysql://u:p@db/x')).not.toHaveProperty('ssl');
  });

  it('verifies the host name by default, the chain only with VERIFY_CA; the system CAs without ssl-ca', () => {
    expect(mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-mode=VERIFY_IDENTITY'))).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: true,
    });
    expect(mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-mode=VERIFY_CA'))).toMatchObject({
      verifyIdentity: false,
    });
    expect(mysqlEndpoint('mysql://u:p@db/x?ssl-mode=VERIFY_IDENTITY').ssl).toMatchObject({
      verifyIdentity: true,
    });
  });

  it('refuses unknown modes, unreadable files and a certificate without its key', () => {
    expect(() => mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-mode=PREFERRED'))).toThrow(
      /ssl-mode must be one of/,
    );
    expect(() => mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-ca=/nonexistent.pem'))).toThrow(
      /cannot read ssl-ca=\/nonexistent.pem: ENOENT/,
    );
    expect(() => mysqlTlsOf(new URL('mysql://u:p@db/x?ssl-cert=/etc/hostname'))).toThrow(
      /ssl-cert and ssl-key go together/,
    );
  });
});
