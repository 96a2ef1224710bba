import { describe, expect, it } from 'vitest';
import { producerEnvSchema } from '../../producer/config.ts';
import { parseEnv } from './env.ts';

const base = {
  MYSQL_CDC_URL: 'mysql://cdc:pw@127.0.0.1:3306/shop',
  KAFKA_BROKERS: '127.0.0.1:9092',
  TOPIC_PREFIX: 'pay',
  PRODUCER_SERVER_ID: '42',
};

describe('Kafka security settings', () => {
  it('stays plaintext by default', () => {
    expect(parseEnv(producerEnvSchema, base).security).toEqual({ protocol: 'PLAINTEXT' });
  });

  it('SASL needs its credentials; files must be readable; a certificate needs its key', () => {
    expect(() => parseEnv(producerEnvSchema, { ...base, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' })).toThrow(
      /KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL[\s\S]*KAFKA_SASL_PASSWORD/,
    );
    expect(() =>
      parseEnv(producerEnvSchema, {
        ...base,
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem',
      }),
    ).toThrow(/KAFKA_TLS_CA_FILE: cannot read \/nonexistent\/ca.pem: ENOENT/);
    expect(() =>
      parseEnv(producerEnvSchema, {
        ...base,
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_TLS_CERT_FILE: '/etc/hostname',
      }),
    ).toThrow(/KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together/);
  });

  it('builds SASL over TLS with a CA given inline', () => {
    const cfg = parseEnv(producerEnvSchema, {
      ...base,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_USERNAME: 'producer',
      KAFKA_SASL_PASSWORD: 'secret',
      KAFKA_TLS_CA_PEM: 'PEM',
    });
    expect(cfg.security).toEqual({
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'producer', password: 'secret' },
      tls: { ca: 'PEM' },
    });
  });
});
