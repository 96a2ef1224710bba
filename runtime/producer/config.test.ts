import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config/env.ts';
import { loadProducerConfig, tableSelected } from './config.ts';

const base = {
  MYSQL_CDC_URL: 'mysql://cdc:secret@127.0.0.1:3306/payments',
  KAFKA_BROKERS: '127.0.0.1:9092',
  TOPIC_PREFIX: 'payments',
  PRODUCER_SERVER_ID: '4201',
};

describe('producer config', () => {
  it('applies defaults and derives the database from the URL', () => {
    const cfg = loadProducerConfig(base);
    expect(cfg.databases).toEqual(['payments']);
    expect(cfg.tables).toEqual([]);
    expect(cfg.partitions).toBe(6);
    expect(cfg.name).toBe('payments');
    expect(cfg.startFrom).toEqual({ kind: 'latest' });
    expect(cfg.snapshotMode).toBe('never');
    expect(cfg.ops).toEqual(['c', 'u', 'd']);
  });

  it('lists every problem at once', () => {
    try {
      loadProducerConfig({ ...base, PRODUCER_SERVER_ID: '0', START_FROM: 'soon', TOPIC_PARTITIONS: 'many' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues.join('\n');
      expect(issues).toMatch(/PRODUCER_SERVER_ID/);
      expect(issues).toMatch(/TOPIC_PARTITIONS/);
    }
    expect(() => loadProducerConfig({ ...base, START_FROM: 'soon' })).toThrow(/START_FROM/);
    expect(() => loadProducerConfig({ ...base, MYSQL_CDC_URL: 'mysql://cdc:x@h:1/' })).toThrow(
      /PRODUCER_DATABASES/,
    );
  });

  it('filters tables by database and by table or db.table', () => {
    const cfg = loadProducerConfig({
      ...base,
      PRODUCER_DATABASES: 'a,b',
      PRODUCER_TABLES: 'orders,b.refunds',
    });
    expect(tableSelected(cfg, 'a', 'orders')).toBe(true);
    expect(tableSelected(cfg, 'b', 'orders')).toBe(true);
    expect(tableSelected(cfg, 'b', 'refunds')).toBe(true);
    expect(tableSelected(cfg, 'a', 'refunds')).toBe(false);
    expect(tableSelected(cfg, 'c', 'orders')).toBe(false);
  });
});
