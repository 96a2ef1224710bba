// The secure profile's ACLs (dev/lib/kafka.sh, KAFKA_SECURITY=sasl_ssl): each service's user may do
// only what that service does, for the stack's topic prefix. Run by kafka_start as the admin user.
// Env: KAFKA_BROKERS, the KAFKA_SECURITY_* / KAFKA_SASL_* / KAFKA_TLS_* settings, KAFKA_ACL_PREFIX.
import { z } from 'zod';
import { loadConfig, parseEnv } from '../../runtime/core/config/env.ts';
import { kafkaBrokers, topicPrefix } from '../../runtime/core/config/fields.ts';
import {
  kafkaSecurityFields,
  kafkaSecurityOf,
  kafkaSecurityRule,
} from '../../runtime/core/config/kafka-security.ts';
import { type AclGrant, grantAcls } from '../../runtime/core/kafka/acls.ts';

const env = loadConfig('kafka-acls', (e) =>
  parseEnv(
    z
      .object({ KAFKA_BROKERS: kafkaBrokers, KAFKA_ACL_PREFIX: topicPrefix, ...kafkaSecurityFields })
      .superRefine(...kafkaSecurityRule()),
    e,
  ),
);

/** What each service's user may do under `prefix` (the names in runtime/core/checkpoint/ and runtime/consumer). */
export function pipelineAcls(prefix: string): AclGrant[] {
  const topics = `${prefix}.`;
  const checkpoint = `${prefix}.__checkpoints`;
  // readCheckpoint's ephemeral groups: `<producer name>.checkpoint-reader.<pid>...`.
  const checkpointReaders = `${prefix}.checkpoint-reader`;
  const producer = 'User:producer';
  const consumer = 'User:consumer';
  const operator = 'User:operator';
  return [
    // Producer: creates and writes the change topics and the checkpoint topic, in transactions.
    {
      principal: producer,
      resource: 'topic',
      name: topics,
      pattern: 'prefixed',
      operations: ['CREATE', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS'],
    },
    { principal: producer, resource: 'topic', name: checkpoint, pattern: 'literal', operations: ['READ'] },
    {
      principal: producer,
      resource: 'group',
      name: checkpointReaders,
      pattern: 'prefixed',
      operations: ['READ'],
    },
    {
      principal: producer,
      resource: 'transactionalId',
      name: topics,
      pattern: 'prefixed',
      operations: ['WRITE', 'DESCRIBE'],
    },
    {
      principal: producer,
      resource: 'cluster',
      name: 'kafka-cluster',
      pattern: 'literal',
      operations: ['IDEMPOTENT_WRITE', 'DESCRIBE_CONFIGS'],
    },
    // Consumer: reads the change topics, commits its own group, writes only its dead-letter topic.
    // CREATE: it creates the change topics (empty) when it starts before the producer.
    {
      principal: consumer,
      resource: 'topic',
      name: topics,
      pattern: 'prefixed',
      operations: ['READ', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'CREATE'],
    },
    {
      principal: consumer,
      resource: 'group',
      name: `${prefix}.consumer`,
      pattern: 'literal',
      operations: ['READ', 'DESCRIBE'],
    },
    {
      principal: consumer,
      resource: 'topic',
      name: `${prefix}.dlq`,
      pattern: 'literal',
      operations: ['CREATE', 'WRITE'],
    },
    {
      principal: consumer,
      resource: 'cluster',
      name: 'kafka-cluster',
      pattern: 'literal',
      operations: ['IDEMPOTENT_WRITE', 'DESCRIBE_CONFIGS'],
    },
    // Operator: consumer lag (describe groups and topics) and the checkpoint, which it reads for status
    // and rewrites for a startFrom change (docs/operator-duties.md) with the producer's transactional
    // id, so a producer still running is fenced. No change topic is writable to it.
    { principal: operator, resource: 'group', name: topics, pattern: 'prefixed', operations: ['DESCRIBE'] },
    { principal: operator, resource: 'topic', name: topics, pattern: 'prefixed', operations: ['DESCRIBE'] },
    {
      principal: operator,
      resource: 'topic',
      name: checkpoint,
      pattern: 'literal',
      operations: ['READ', 'WRITE', 'CREATE'],
    },
    {
      principal: operator,
      resource: 'transactionalId',
      name: topics,
      pattern: 'prefixed',
      operations: ['WRITE', 'DESCRIBE'],
    },
    {
      principal: operator,
      resource: 'group',
      name: checkpointReaders,
      pattern: 'prefixed',
      operations: ['READ'],
    },
  ];
}

await grantAcls(
  { brokers: env.KAFKA_BROKERS, clientId: 'payment-pipeline-acls', security: kafkaSecurityOf(env) },
  pipelineAcls(env.KAFKA_ACL_PREFIX),
);
process.stderr.write(
  `[kafka] ACLs of producer, consumer and operator for topics ${env.KAFKA_ACL_PREFIX}.*\n`,
);
