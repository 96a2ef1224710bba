import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { SASLOptions } from '@platformatic/kafka';

/**
 * How a client reaches the brokers: plaintext (the local stack's default), TLS, and SASL (SCRAM or
 * PLAIN) over either. The one place that turns these settings into the client library's options;
 * every admin, producer and consumer connection takes them from here.
 */
export type KafkaSecurity = {
  protocol: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  sasl?: { mechanism: 'SCRAM-SHA-512' | 'SCRAM-SHA-256' | 'PLAIN'; username: string; password: string };
  /**
   * PEM contents. No `ca`: the system's trust store. The broker's certificate is always verified,
   * host name included (verify-full); `cert`/`key` present a client certificate (mutual TLS).
   */
  tls?: { ca?: string; cert?: string; key?: string };
};

export function kafkaClientOptions(security: KafkaSecurity | undefined): {
  tls?: TlsOptions;
  sasl?: SASLOptions;
} {
  if (!security || security.protocol === 'PLAINTEXT') return {};
  const out: { tls?: TlsOptions; sasl?: SASLOptions } = {};
  if (security.protocol === 'SSL' || security.protocol === 'SASL_SSL') {
    const t = security.tls ?? {};
    out.tls = {
      rejectUnauthorized: true,
      ...(t.ca ? { ca: t.ca } : {}),
      ...(t.cert ? { cert: t.cert } : {}),
      ...(t.key ? { key: t.key } : {}),
    };
  }
  if (security.protocol === 'SASL_SSL' || security.protocol === 'SASL_PLAINTEXT') {
    if (!security.sasl) throw new Error(`${security.protocol} needs SASL credentials`);
    const { mechanism, username, password } = security.sasl;
    out.sasl = { mechanism, username, password };
  }
  return out;
}
