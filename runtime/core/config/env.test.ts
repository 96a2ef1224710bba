import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, parseEnv } from './env.ts';
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
      expect(issues).toMatch(/^PORT: /m);
      expect(issues).toMatch(/^MYSQL_URL: must be a mysql:\/\/ URL/m);
      expect(issues).toMatch(/^KAFKA_BROKERS: /m);
      expect(issues).toMatch(/^TOPIC_PREFIX: /m);
    }
  });
});
