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
