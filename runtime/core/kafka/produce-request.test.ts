import {
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  produceV10,
  produceV11,
} from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import {
  createProduceRequest,
  encodeRecordBatch,
  fastProduceApi,
  type ProduceMessage,
  type ProduceOptions,
} from './produce-request.ts';

const LIBRARY = [
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  produceV10,
  produceV11,
];

const sequences = (start: Record<string, number>) => ({
  getWithDefault: (key: string, fallback: number) => start[key] ?? fallback,
});

/** Messages as the library's producer hands them to the Produce API; a fresh copy per call (both sides mutate). */
function messages(): ProduceMessage[] {
  const t = 1_764_643_421_123n;
  const out: ProduceMessage[] = [];
  for (let i = 0; i < 300; i++) {
    out.push({
      topic: i % 3 === 0 ? 'p.db.orders' : 'p.db.users',
      partition: (i * 7) % 5,
      key: Buffer.from(`{"id":${i}}`),
      value: Buffer.from(JSON.stringify({ n: i, text: 'é—ok'.repeat(i % 9) })),
      headers: new Map(),
      timestamp: t + BigInt(i % 4) - 1n, // later and earlier than the batch's first
    });
  }
  // (timestamps set: the library's zigzag of a delta of 2^31 ms or more is not Kafka's, see below)
  out.push({
    topic: 'p.db.orders',
    partition: 2,
    key: Buffer.from('{"id":1}'),
    value: undefined,
    timestamp: t,
  });
  out.push({ topic: 'p.db.orders', partition: 2, key: undefined, value: Buffer.alloc(0), timestamp: t });
  out.push({
    topic: 'p.db.orders',
    partition: 2,
    key: Buffer.alloc(0),
    value: Buffer.alloc(300_000, 0x61),
    timestamp: t,
  });
  out.push({
    topic: '42', // an integer-like name sorts first in the library's grouping: same order here
    partition: 0,
    key: Buffer.from('k'),
    value: Buffer.from('v'),
    headers: new Map<Buffer, Buffer | undefined>([
      [Buffer.from('h1'), Buffer.from('one')],
      [Buffer.from('h2'), undefined],
    ]),
    timestamp: t,
  });
  return out;
}

const cases: Array<{ name: string; acks: number; options: ProduceOptions }> = [
  {
    name: 'transactional, with sequences',
    acks: -1,
    options: {
      producerId: 4242n,
      producerEpoch: 3,
      transactionalId: 'pipeline.producer',
      sequences: sequences({ 'p.db.orders:2': 17, 'p.db.users:4': 1_000_000 }),
    },
  },
  {
    name: 'idempotent only',
    acks: -1,
    options: { producerId: 7n, producerEpoch: 0, sequences: sequences({}) },
  },
  { name: 'plain, acks 1', acks: 1, options: {} },
  { name: 'acks 0 (no response)', acks: 0, options: { transactionalId: 'x' } },
];

describe('createProduceRequest', () => {
  for (const [i, lib] of LIBRARY.entries()) {
    const version = i + 3;
    for (const c of cases) {
      it(`v${version}, ${c.name}: the library's bytes`, () => {
        const theirs = lib.createRequest(c.acks, 30_000, messages() as never, c.options as never);
        const ours = createProduceRequest(version, c.acks, 30_000, messages(), c.options);
        expect(ours.buffer.equals(theirs.buffer)).toBe(true);
        expect(ours.context.noResponse).toBe(theirs.context.noResponse);
      });
    }
  }

  it('messages without timestamp or partition get the same defaults as in the library', () => {
    const bare = (): ProduceMessage[] => [
      { topic: 't', key: Buffer.from('a'), value: Buffer.from('1') },
      { topic: 't', key: Buffer.from('b'), value: Buffer.from('2') },
    ];
    const now = Date.now;
    Date.now = () => 1_700_000_000_000;
    try {
      const theirs = produceV11.createRequest(-1, 1000, bare() as never, {});
      const ours = createProduceRequest(11, -1, 1000, bare(), {});
      expect(ours.buffer.equals(theirs.buffer)).toBe(true);
    } finally {
      Date.now = now;
    }
  });

  it('writes a timestamp delta beyond 2^31 ms as Kafka zigzag varlong', () => {
    const batch = encodeRecordBatch(
      [
        { topic: 't', partition: 0, key: null, value: null, timestamp: 0n },
        { topic: 't', partition: 0, key: null, value: null, timestamp: 2n ** 33n },
      ],
      {},
    );
    // the first record takes 7 bytes; the second: length zigzag(10), attributes 0, delta zigzag(2^33) = 2^34 as varint, offset delta 1, null key
    const second = batch.subarray(61 + 7);
    expect([...second.subarray(0, 9)]).toEqual([0x14, 0, 0x80, 0x80, 0x80, 0x80, 0x40, 2, 1]);
  });

  it('is offered for the versions it encodes only', () => {
    expect(fastProduceApi(11)?.version).toBe(11);
    expect(fastProduceApi(3)?.version).toBe(3);
    expect(fastProduceApi(2)).toBeUndefined();
    expect(fastProduceApi(12)).toBeUndefined();
  });
});
