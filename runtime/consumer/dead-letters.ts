import type { DurableProducer } from '../core/kafka/index.ts';

export type DeadLetter = {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  reason: string;
};

/** `<prefix>.dlq`: one dead-letter topic per pipeline; the source topic is in the headers. */
export function deadLetterTopic(prefix: string): string {
  return `${prefix}.dlq`;
}

/**
 * Publishes poisoned messages unchanged, with why and where they came from in headers. Resolves only once
 * Kafka acknowledged them (acks=all), so their source offsets may be committed afterwards.
 */
export class DeadLetters {
  private readonly producer: DurableProducer;
  private readonly topic: string;
  private readonly group: string;

  constructor(producer: DurableProducer, topic: string, group: string) {
    this.producer = producer;
    this.topic = topic;
    this.group = group;
  }

  async send(letters: readonly DeadLetter[]): Promise<void> {
    await this.producer.send(
      letters.map((l) => ({
        topic: this.topic,
        key: l.key,
        value: l.value,
        headers: {
          'dlq.reason': l.reason.slice(0, 1000),
          'dlq.source.topic': l.topic,
          'dlq.source.partition': String(l.partition),
          'dlq.source.offset': l.offset.toString(),
          'dlq.consumer.group': this.group,
          'dlq.at': new Date().toISOString(),
        },
      })),
    );
  }
}
