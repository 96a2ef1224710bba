// Exits 0 once the broker answers a metadata request with these credentials (the secure profile's
// readiness check: kcat's SCRAM is refused by this broker, the project's own client is what counts).
import { z } from 'zod';
import { loadConfig, parseEnv } from '../../runtime/core/config/env.ts';
import { kafkaBrokers } from '../../runtime/core/config/fields.ts';
import {
  kafkaSecurityFields,
  kafkaSecurityOf,
  kafkaSecurityRule,
} from '../../runtime/core/config/kafka-security.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';

const env = loadConfig('kafka-probe', (e) =>
  parseEnv(
    z.object({ KAFKA_BROKERS: kafkaBrokers, ...kafkaSecurityFields }).superRefine(...kafkaSecurityRule()),
    e,
  ),
);
const admin = createKafkaAdmin({
  brokers: env.KAFKA_BROKERS,
  clientId: 'payment-pipeline-probe',
  security: kafkaSecurityOf(env),
});
try {
  await admin.endOffsets(['__probe']);
} catch {
  process.exitCode = 1;
} finally {
  await admin.close().catch(() => undefined);
}
