import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { KafkaSecurity } from '../kafka/security.ts';

/**
 * The Kafka connection's security settings, the same variables in every service's env schema
 * (producer, consumer and its tools, operator). Defaults keep the local stack's plaintext broker.
 */
export const kafkaSecurityFields = {
  /** PLAINTEXT (default), SSL, SASL_SSL (managed services: MSK, Confluent…), SASL_PLAINTEXT. */
  KAFKA_SECURITY_PROTOCOL: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: z.enum(['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN']).default('SCRAM-SHA-512'),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** PEM file of the CA(s) that signed the brokers' certificates; unset = the system's trust store. */
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  /** The same as PEM text (a Secret's key in a pod); KAFKA_TLS_CA_FILE wins when both are set. */
  KAFKA_TLS_CA_PEM: z.string().min(1).optional(),
  /** A client certificate and its key (PEM files), for brokers that authenticate clients by TLS. */
  KAFKA_TLS_CERT_FILE: z.string().min(1).optional(),
  KAFKA_TLS_KEY_FILE: z.string().min(1).optional(),
};

type KafkaSecurityEnv = {
  KAFKA_SECURITY_PROTOCOL: KafkaSecurity['protocol'];
  KAFKA_SASL_MECHANISM: NonNullable<KafkaSecurity['sasl']>['mechanism'];
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_TLS_CA_FILE?: string | undefined;
  KAFKA_TLS_CA_PEM?: string | undefined;
  KAFKA_TLS_CERT_FILE?: string | undefined;
  KAFKA_TLS_KEY_FILE?: string | undefined;
};

const readable = (file: string): string | null => {
  try {
    readFileSync(file);
    return null;
  } catch (err) {
    return `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
};

/** Cross-field rules: SASL needs its credentials, a client certificate its key, files must be readable. */
export function kafkaSecurityRule<T extends KafkaSecurityEnv>(): [
  (env: T, ctx: z.RefinementCtx<T>) => void,
  { when: () => boolean },
] {
  const check = (env: T, ctx: z.RefinementCtx<T>) => {
    const issue = (path: keyof KafkaSecurityEnv, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (env.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_')) {
      if (!env.KAFKA_SASL_USERNAME)
        issue('KAFKA_SASL_USERNAME', `required with KAFKA_SECURITY_PROTOCOL=${env.KAFKA_SECURITY_PROTOCOL}`);
      if (!env.KAFKA_SASL_PASSWORD)
        issue('KAFKA_SASL_PASSWORD', `required with KAFKA_SECURITY_PROTOCOL=${env.KAFKA_SECURITY_PROTOCOL}`);
    }
    if ((env.KAFKA_TLS_CERT_FILE === undefined) !== (env.KAFKA_TLS_KEY_FILE === undefined)) {
      issue('KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together');
    }
    for (const name of ['KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE'] as const) {
      const file = env[name];
      const problem = file === undefined ? null : readable(file);
      if (problem) issue(name, problem);
    }
  };
  return [check, { when: () => true }];
}

/** The settings as the Kafka clients take them (files read here, once, at start). */
export function kafkaSecurityOf(env: KafkaSecurityEnv): KafkaSecurity {
  const tlsOn = env.KAFKA_SECURITY_PROTOCOL === 'SSL' || env.KAFKA_SECURITY_PROTOCOL === 'SASL_SSL';
  const file = (f: string | undefined) => (f === undefined ? undefined : readFileSync(f, 'utf8'));
  const ca = file(env.KAFKA_TLS_CA_FILE) ?? env.KAFKA_TLS_CA_PEM;
  const cert = file(env.KAFKA_TLS_CERT_FILE);
  const key = file(env.KAFKA_TLS_KEY_FILE);
  return {
    protocol: env.KAFKA_SECURITY_PROTOCOL,
    ...(tlsOn ? { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
    ...(env.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_')
      ? {
          sasl: {
            mechanism: env.KAFKA_SASL_MECHANISM,
            username: env.KAFKA_SASL_USERNAME ?? '',
            password: env.KAFKA_SASL_PASSWORD ?? '',
          },
        }
      : {}),
  };
}
