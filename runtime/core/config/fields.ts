import { z } from 'zod';

// Field schemas shared by the services' env parsing and the PaymentPipeline CRD, so both agree.

export const port = z.coerce.number().int().min(1).max(65535);

export const mysqlUrl = z
  .string()
  .url()
  .refine((u) => /^mysql:\/\//.test(u), 'must be a mysql:// URL');

export const redisUrl = z
  .string()
  .url()
  .refine((u) => /^rediss?:\/\//.test(u), 'must be a redis:// or rediss:// URL');

/** host:port[,host:port...] */
export const kafkaBrokers = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, 'must be host:port[,host:port...]')
  .transform((s) => s.split(','));

/** Kafka topic names allow [a-zA-Z0-9._-]; the prefix is joined with '.'. */
export const topicPrefix = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'letters, digits, _ and -, dot-separated');

/** MySQL identifiers we accept for databases and tables (no quoting games). */
export const sqlIdentifier = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and _ (max 64)');

export const redisKeyPrefix = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -');

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const startFromKind = z.enum(['earliest', 'latest', 'timestamp', 'position', 'gtid']);

export const boolFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const csvList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0),
);
