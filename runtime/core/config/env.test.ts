import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, camelConfig, parseEnv, shownValue } from './env.ts';
import { kafkaBrokers, mysqlUrl, port, topicPrefix } from './fields.ts';

const schema = z.object({
  PORT: port.default(8080),
  MYSQL_URL: mysqlUrl,
  KAFKA_BROKERS: kafkaBrokers,
  TOPIC_PREFIX: topicPrefix.default('payments'),
});

describe('parseEnv', () => {
  it('parses and applies defaults; empty strings count as unset', () => {
    const env = parseEnv(schema, {
      MYSQL_URL: 'mysql://u:p@127.0.0.1:3306/payments',
      KAFKA_BROKERS: '127.0.0.1:9092,kafka-1:9092',
      PORT: '',
    });
    expect(env).toEqual({
      PORT: 8080,
      MYSQL_URL: 'mysql://u:p@127.0.0.1:3306/payments',
      KAFKA_BROKERS: ['127.0.0.1:9092', 'kafka-1:9092'],
      TOPIC_PREFIX: 'payments',
    });
  });

  it('reports every problem at once, naming the variable', () => {
    try {
      parseEnv(schema, { PORT: '70000', MYSQL_URL: 'postgres://x@y/z', TOPIC_PREFIX: 'bad prefix' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues.join('\n');
      expect(issues).toMatch(/^PORT: .* \(got "70000"\)$/m);
      expect(issues).toMatch(/^MYSQL_URL: must be a mysql:\/\/ URL \(got "postgres:\/\/x@y\/z"\)$/m);
      expect(issues).toMatch(/^KAFKA_BROKERS: .* \(unset\)$/m);
      expect(issues).toMatch(/^TOPIC_PREFIX: .* \(got "bad prefix"\)$/m);
    }
  });
});

describe('shownValue', () => {
  it('quotes what a variable got, hiding secrets and the passwords of URLs', () => {
    expect(shownValue('API_PORT', 'eighty')).toBe('got "eighty"');
    expect(shownValue('API_PORT', undefined)).toBe('unset');
    expect(shownValue('AUTH_JWT_SECRET', 'short')).toBe('got a hidden value of 5 characters');
    expect(shownValue('KAFKA_SASL_PASSWORD', 'pw')).toBe('got a hidden value of 2 characters');
    expect(shownValue('MYSQL_URL', 'mysql://app:p%40ss@db:3306/payments')).toBe(
      'got "mysql://app:***@db:3306/payments"',
    );
    expect(shownValue('REDIS_URL', 'redis://:pw@a:1,b:2/0')).toBe('got "redis://:***@a:1,b:2/0"');
  });
});

describe('camelConfig', () => {
  it("names each variable in camelCase without the component's prefix", () => {
    expect(camelConfig({ API_OPS_PORT: 1, LOG_LEVEL: 'info', MYSQL_URL: 'u' }, 'API_')).toEqual({
      opsPort: 1,
      logLevel: 'info',
      mysqlUrl: 'u',
    });
  });

  it('refuses two variables that would become the same field', () => {
    expect(() => camelConfig({ API_PORT: 1, PORT: 2 }, 'API_')).toThrow(
      /PORT and another variable both become port/,
    );
  });
});
