import { describe, expect, it } from 'vitest';
import { apiEnvSchema } from '../../api/config.ts';
import { consumerEnvSchema, toolEnvSchema } from '../../consumer/config.ts';
import { ConfigError, parseEnv } from '../config/env.ts';
import { clusterNodes, redisConfigOf, redisOptions } from './connect.ts';

const options = (redisUrl: string, redisSentinelMaster?: string) =>
  redisOptions({ redisUrl, redisSentinelMaster });

describe('redisOptions: standalone (no REDIS_SENTINEL_MASTER)', () => {
  it('connects to the one host, port 6379 by default, with credentials, db and TLS from the URL', () => {
    expect(options('redis://127.0.0.1:26379/0')).toEqual({ host: '127.0.0.1', port: 26379, db: 0 });
    expect(options('redis://cache')).toEqual({ host: 'cache', port: 6379 });
    expect(options('rediss://app:s%40cret@cache.svc:6380/3')).toEqual({
      host: 'cache.svc',
      port: 6380,
      username: 'app',
      password: 's@cret',
      db: 3,
      tls: {},
    });
    // `:password@` is a password without a user (AUTH with the default user).
    expect(options('redis://:pw@[::1]:6379')).toEqual({ host: '::1', port: 6379, password: 'pw' });
  });

  it('refuses several hosts without a master name', () => {
    expect(() => options('redis://a:6379,b:6379')).toThrow(
      'names several hosts: set REDIS_SENTINEL_MASTER to reach them as Sentinels, REDIS_MODE=cluster for cluster seed nodes, or give the one Redis server',
    );
  });
});

describe('redisOptions: Sentinel (REDIS_SENTINEL_MASTER set)', () => {
  it('asks every Sentinel named for the master; credentials, db and TLS are the master’s', () => {
    expect(options('rediss://app:pw@s1.svc:26379,s2.svc:26380,10.0.0.3:26381/2', 'payments')).toEqual({
      sentinels: [
        { host: 's1.svc', port: 26379 },
        { host: 's2.svc', port: 26380 },
        { host: '10.0.0.3', port: 26381 },
      ],
      name: 'payments',
      username: 'app',
      password: 'pw',
      db: 2,
      tls: {},
      enableTLSForSentinelMode: true,
    });
    expect(options('redis://s1:26379', 'm')).toEqual({ sentinels: [{ host: 's1', port: 26379 }], name: 'm' });
  });

  it('needs each Sentinel’s port', () => {
    expect(() => options('redis://s1:26379,s2', 'm')).toThrow(
      'Sentinel "s2" needs its port (host:port, usually 26379)',
    );
  });
});

describe('Redis Cluster (REDIS_MODE=cluster)', () => {
  const cluster = (redisUrl: string, extra: Record<string, string> = {}) =>
    ({ redisUrl, redisMode: 'cluster', ...extra }) as const;

  it('takes the hosts as seed nodes; credentials and TLS go to every node, no db', () => {
    const config = cluster('rediss://app:pw@10.0.0.1:7000,10.0.0.2:7001/0');
    expect(clusterNodes(config)).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ]);
    expect(redisOptions(config)).toEqual({ username: 'app', password: 'pw', tls: {} });
    expect(clusterNodes({ redisUrl: 'redis://a:1' })).toBeNull();
  });

  it('refuses what a cluster cannot do', () => {
    expect(() => redisOptions(cluster('redis://a:7000/2'))).toThrow(
      'a Redis Cluster has only database 0, got /2',
    );
    expect(() => redisOptions(cluster('redis://a:7000,b'))).toThrow(
      'cluster node "b" needs its port (host:port)',
    );
    expect(() => redisOptions(cluster('redis://a:7000', { redisSentinelMaster: 'm' }))).toThrow(
      'REDIS_MODE=cluster takes seed nodes, not Sentinels',
    );
  });

  it('is accepted by the services’ schemas', () => {
    const cfg = parseEnv(apiEnvSchema, {
      MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
      AUTH_JWT_SECRET: 'x'.repeat(32),
      REDIS_URL: 'redis://127.0.0.1:7000,127.0.0.1:7001',
      REDIS_MODE: 'cluster',
    });
    expect(clusterNodes(cfg)).toHaveLength(2);
    const consumer = parseEnv(consumerEnvSchema, {
      TOPIC_PREFIX: 'pay',
      KAFKA_BROKERS: 'k:9092',
      MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
      REDIS_URL: 'redis://127.0.0.1:7000',
      REDIS_MODE: 'cluster',
    });
    expect(consumer.redisWaitReplicas).toBe(1);
  });
});

describe('bad REDIS_URL formats', () => {
  it.each([
    ['http://cache:6379', 'must be a redis:// or rediss:// URL'],
    ['redis://', 'names no host'],
    ['redis://a:6379,,b:6379', '"" is not host[:port]'],
    ['redis://a:6379;b:6379', '"a:6379;b:6379" is not host[:port]'],
    ['redis://cache:70000', 'port 70000 of "cache:70000" is out of range'],
    ['redis://cache:6379/zero', 'the path must be the database number, got "/zero"'],
    ['redis://cache:6379/0?family=6', 'no query string or fragment'],
    ['redis://u:%E0%A4%A@cache', 'the password is not valid percent-encoding'],
  ])('%s → %s', (url, message) => {
    expect(() => options(url, 'm')).toThrow(message);
  });
});

describe('the services’ env schemas', () => {
  const apiBase = {
    MYSQL_URL: 'mysql://app:pw@127.0.0.1:3306/payments',
    AUTH_JWT_SECRET: 'x'.repeat(32),
  };
  const consumerBase = { TOPIC_PREFIX: 'pay', KAFKA_BROKERS: 'k:9092', MYSQL_URL: apiBase.MYSQL_URL };
  const problems = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err.issues;
      throw err;
    }
    return [];
  };

  it('accept Sentinels with REDIS_SENTINEL_MASTER, for the api, the consumer and its tools', () => {
    const env = { REDIS_URL: 'redis://s1:26379,s2:26379/0', REDIS_SENTINEL_MASTER: 'mymaster' };
    for (const [schema, base] of [
      [apiEnvSchema, apiBase],
      [consumerEnvSchema, consumerBase],
      [toolEnvSchema, consumerBase],
    ] as const) {
      const cfg = parseEnv(schema, { ...base, ...env });
      expect(redisOptions(cfg)).toMatchObject({ name: 'mymaster', db: 0 });
    }
  });

  it('take TLS and an ACL user for the Sentinels themselves (REDIS_SENTINEL_*), apart from the master’s', () => {
    const env = {
      REDIS_URL: 'rediss://consumer:pw@s1:26379,s2:26379/0',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_SENTINEL_TLS: 'true',
      REDIS_SENTINEL_USERNAME: 'app',
      REDIS_SENTINEL_PASSWORD: 's3cret',
    };
    for (const [schema, base] of [
      [apiEnvSchema, apiBase],
      [consumerEnvSchema, consumerBase],
      [toolEnvSchema, consumerBase],
    ] as const) {
      expect(redisOptions(parseEnv(schema, { ...base, ...env }))).toEqual({
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
        name: 'mymaster',
        username: 'consumer',
        password: 'pw',
        db: 0,
        tls: {},
        enableTLSForSentinelMode: true,
        sentinelTLS: {},
        sentinelUsername: 'app',
        sentinelPassword: 's3cret',
      });
    }
    // Unset: the Sentinels in plain text without credentials, as before.
    const plain = parseEnv(apiEnvSchema, { ...apiBase, ...env, REDIS_SENTINEL_TLS: 'false' });
    expect(redisOptions(plain)).not.toHaveProperty('sentinelTLS');
    expect(redisConfigOf(env)).toMatchObject({ redisSentinelTls: true, redisSentinelUsername: 'app' });
  });

  it('refuse REDIS_SENTINEL_* without Sentinel mode, and a Sentinel user without its password', () => {
    expect(
      problems(() =>
        parseEnv(apiEnvSchema, { ...apiBase, REDIS_URL: 'rediss://cache:6380', REDIS_SENTINEL_TLS: 'true' }),
      ),
    ).toEqual([
      'REDIS_SENTINEL_TLS: REDIS_SENTINEL_TLS only apply with REDIS_SENTINEL_MASTER (Sentinel mode) (got "true")',
    ]);
    expect(
      problems(() =>
        parseEnv(consumerEnvSchema, {
          ...consumerBase,
          REDIS_URL: 'redis://s1:26379',
          REDIS_SENTINEL_MASTER: 'm',
          REDIS_SENTINEL_USERNAME: 'app',
        }),
      ),
    ).toEqual(['REDIS_SENTINEL_PASSWORD: REDIS_SENTINEL_USERNAME needs REDIS_SENTINEL_PASSWORD (unset)']);
  });

  it('name REDIS_URL with the reason, together with every other problem', () => {
    expect(
      problems(() => parseEnv(apiEnvSchema, { ...apiBase, REDIS_URL: 'redis://a:1,b:2', API_PORT: '0' })),
    ).toEqual([
      expect.stringMatching(/^API_PORT: /),
      'REDIS_URL: names several hosts: set REDIS_SENTINEL_MASTER to reach them as Sentinels, REDIS_MODE=cluster for cluster seed nodes, or give the one Redis server (got "redis://a:1,b:2")',
    ]);
    expect(
      problems(() =>
        parseEnv(consumerEnvSchema, { ...consumerBase, REDIS_URL: 'redis://s1', REDIS_SENTINEL_MASTER: 'm' }),
      ),
    ).toEqual(['REDIS_URL: Sentinel "s1" needs its port (host:port, usually 26379) (got "redis://s1")']);
    expect(problems(() => parseEnv(toolEnvSchema, { ...consumerBase, REDIS_URL: 'redis://c/x' }))).toEqual([
      'REDIS_URL: the path must be the database number, got "/x" (got "redis://c/x")',
    ]);
    expect(
      problems(() =>
        parseEnv(apiEnvSchema, {
          ...apiBase,
          REDIS_URL: 'redis://s1:26379',
          REDIS_SENTINEL_MASTER: 'bad name',
        }),
      ),
    ).toEqual(['REDIS_SENTINEL_MASTER: letters, digits and _ . : - (got "bad name")']);
  });
});
