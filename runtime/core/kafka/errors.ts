import { findErrorBy } from '@platformatic/kafka';

/** Kafka protocol error id (e.g. 'TOPIC_ALREADY_EXISTS') found anywhere in a client error, if any. */
export function kafkaErrorIs(err: unknown, id: string): boolean {
  return err instanceof Error && findErrorBy(err, 'apiId', id) !== null;
}

/**
 * True when a newer producer with the same transactional.id took over: this instance must stop
 * publishing (it is no longer the active producer) instead of retrying.
 */
export function isFencedError(err: unknown): boolean {
  return (
    kafkaErrorIs(err, 'PRODUCER_FENCED') ||
    kafkaErrorIs(err, 'INVALID_PRODUCER_EPOCH') ||
    kafkaErrorIs(err, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
  );
}

/** The broker refused a record batch (or a request) as larger than its size limit. */
export function isTooLargeError(err: unknown): boolean {
  return kafkaErrorIs(err, 'MESSAGE_TOO_LARGE') || kafkaErrorIs(err, 'RECORD_LIST_TOO_LARGE');
}

/** Every error in a client error's tree: its `errors` (aggregates) and `cause` chains. */
function* errorTree(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (!err || typeof err !== 'object' || depth > 20) return;
  const e = err as Record<string, unknown>;
  yield e;
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorTree(inner, depth + 1);
  if (e.cause) yield* errorTree(e.cause, depth + 1);
}

const ACCESS_REFUSED = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/** The broker's reason for refusing this client, if that is what the error is (the protocol error id). */
export function accessRefusal(err: unknown): string | null {
  for (const e of errorTree(err)) {
    if (e.code === 'PLT_KFK_AUTHENTICATION') return 'SASL_AUTHENTICATION_FAILED';
    if (typeof e.apiId === 'string' && ACCESS_REFUSED.has(e.apiId)) return e.apiId;
  }
  return null;
}

/**
 * The brokers refused this client's identity (wrong SASL credentials) or its rights (an ACL). Retrying
 * cannot help: a service stops with this error's message instead of reconnecting for ever.
 */
export function isAccessError(err: unknown): boolean {
  return accessRefusal(err) !== null;
}

/** One line for the log and for whoever runs the service: who was refused, and what to check. */
export function accessErrorMessage(err: unknown, who: string): string {
  const reason = accessRefusal(err);
  return reason === 'SASL_AUTHENTICATION_FAILED'
    ? `Kafka refused the credentials of ${who} (SASL authentication failed): check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM`
    : `Kafka refused an operation of ${who} (${reason ?? 'not authorized'}): the user lacks an ACL for it`;
}
