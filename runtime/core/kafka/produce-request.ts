import {
  crc32c,
  createAPI,
  groupByProperty,
  produceV3,
  produceV4,
  produceV5,
  produceV6,
  produceV7,
  produceV8,
  produceV9,
  produceV10,
  produceV11,
  type ResponseParser,
  Writer,
} from '@platformatic/kafka';

/**
 * Produce requests (v3–v11) encoded into one buffer, byte for byte what the client library writes
 * (produce-request.test.ts compares both), without its per-field buffers: the library builds every
 * record from ~8 small Buffers (one per varint), concatenates them once for the CRC and again for
 * the socket, which cost the producer more CPU per event than decoding the binlog row.
 * Uncompressed batches only; compressed ones stay with the library's encoder (fastProduceApi).
 */

/** A message as the library's producer hands it to the Produce API (serialised, partition assigned). */
export type ProduceMessage = {
  topic: string;
  partition?: number;
  key?: Buffer | null | undefined;
  value?: Buffer | null | undefined;
  headers?: Map<Buffer, Buffer | null | undefined> | null | undefined;
  timestamp?: bigint | number | undefined;
};

export type ProduceOptions = {
  producerId?: bigint;
  producerEpoch?: number;
  transactionalId?: string | null | undefined;
  compression?: string | undefined;
  sequences?: { getWithDefault: (key: string, fallback: number) => number } | undefined;
  partitionLeaderEpoch?: number;
};

const IS_TRANSACTIONAL = 1 << 4;
/** baseOffset … numRecords: the fixed part of a v2 record batch. */
const BATCH_HEADER = 61;
/** From attributes on, what the CRC covers. */
const CRC_FROM = 21;

const varUintSize = (v: number) =>
  v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
const zigzag = (v: number) => ((v << 1) ^ (v >> 31)) >>> 0;
const varIntSize = (v: number) => varUintSize(zigzag(v));
/** Zigzag of a 64-bit delta (a safe integer); as the library writes it for |v| < 2^31. */
const zigzag64 = (v: number) => (v >= 0 ? v * 2 : -v * 2 - 1);
const varUint64Size = (v: number) => {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
};

function writeVarUint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function writeVarUint64(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

const bytesSize = (b: Buffer | null | undefined) => (b == null ? 1 : varIntSize(b.length) + b.length);

function writeBytes(buf: Buffer, at: number, b: Buffer | null | undefined): number {
  if (b == null) return writeVarUint(buf, at, 1); // zigzag(-1)
  at = writeVarUint(buf, at, zigzag(b.length));
  buf.set(b, at);
  return at + b.length;
}

type Sized = { bodySize: number; tsDelta: number };

/** One partition's v2 record batch (what the library's createRecordsBatch gives, uncompressed). */
export function encodeRecordBatch(messages: ProduceMessage[], options: ProduceOptions): Buffer {
  const now = BigInt(Date.now());
  const first = messages[0];
  if (!first) throw new Error('a record batch needs at least one message');
  const firstTimestamp = BigInt(first.timestamp ?? now);
  let maxTimestamp = firstTimestamp;
  const sizes: Sized[] = new Array(messages.length);
  let total = BATCH_HEADER;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as ProduceMessage;
    const ts = BigInt(m.timestamp ?? now);
    m.timestamp = ts; // as the library does: a retried request keeps its timestamps
    if (ts > maxTimestamp) maxTimestamp = ts;
    const tsDelta = Number(ts - firstTimestamp);
    let body = 1 + varUint64Size(zigzag64(tsDelta)) + varIntSize(i) + bytesSize(m.key) + bytesSize(m.value);
    const headers = m.headers;
    body += varIntSize(headers?.size ?? 0);
    if (headers) for (const [k, v] of headers) body += bytesSize(k) + bytesSize(v);
    sizes[i] = { bodySize: body, tsDelta };
    total += varIntSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  buf.writeBigInt64BE(0n, 0); // baseOffset
  buf.writeInt32BE(total - 12, 8); // batchLength: everything after it
  buf.writeInt32BE(options.partitionLeaderEpoch ?? 0, 12);
  buf.writeInt8(2, 16); // magic
  // 17..20: CRC, below
  buf.writeInt16BE(options.transactionalId ? IS_TRANSACTIONAL : 0, 21);
  buf.writeInt32BE(messages.length - 1, 23); // lastOffsetDelta
  buf.writeBigInt64BE(firstTimestamp, 27);
  buf.writeBigInt64BE(maxTimestamp, 35);
  buf.writeBigInt64BE(options.producerId ?? -1n, 43);
  buf.writeInt16BE(options.producerEpoch ?? 0, 51);
  const firstSequence = options.sequences?.getWithDefault(`${first.topic}:${first.partition}`, 0) ?? 0;
  buf.writeInt32BE(firstSequence, 53);
  buf.writeInt32BE(messages.length, 57);
  let at = BATCH_HEADER;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as ProduceMessage;
    const { bodySize, tsDelta } = sizes[i] as Sized;
    at = writeVarUint(buf, at, zigzag(bodySize));
    buf[at++] = 0; // attributes
    at = writeVarUint64(buf, at, zigzag64(tsDelta));
    at = writeVarUint(buf, at, zigzag(i));
    at = writeBytes(buf, at, m.key);
    at = writeBytes(buf, at, m.value);
    const headers = m.headers;
    at = writeVarUint(buf, at, zigzag(headers?.size ?? 0));
    if (headers)
      for (const [k, v] of headers) {
        at = writeBytes(buf, at, k);
        at = writeBytes(buf, at, v);
      }
  }
  if (at !== total) throw new Error(`record batch size mismatch: wrote ${at} of ${total} bytes`);
  // The library's crc32c takes its own buffer list without copying it (a plain Buffer is copied).
  buf.writeUInt32BE(crc32c(Writer.create().append(buf.subarray(CRC_FROM)).dynamicBuffer), 17);
  return buf;
}

/** The body of a Produce request of `version` (3–11), as the library's produceV<n>.createRequest. */
export function createProduceRequest(
  version: number,
  acks: number,
  timeout: number,
  topicData: ProduceMessage[],
  options: ProduceOptions,
): Writer {
  if (version < 3 || version > 11) throw new Error(`Produce v${version} is not encoded here`);
  const flexible = version >= 9;
  const now = BigInt(Date.now());
  for (const m of topicData) {
    m.partition ??= 0;
    m.timestamp ??= now;
  }
  const w = Writer.create();
  const array = (n: number) => (flexible ? w.appendUnsignedVarInt(n + 1) : w.appendInt32(n));
  const tags = () => flexible && w.appendTaggedFields();
  w.appendString(options.transactionalId ?? null, flexible)
    .appendInt16(acks)
    .appendInt32(timeout);
  const topics = groupByProperty(topicData, 'topic') as [string, ProduceMessage[]][];
  array(topics.length);
  for (const [topic, messages] of topics) {
    w.appendString(topic, flexible);
    const partitions = groupByProperty(messages, 'partition') as [string, ProduceMessage[]][];
    array(partitions.length);
    for (const [partition, records] of partitions) {
      const batch = encodeRecordBatch(records, options);
      w.appendInt32(Number(partition));
      if (flexible) w.appendUnsignedVarInt(batch.length + 1);
      else w.appendInt32(batch.length);
      w.append(batch);
      tags();
    }
    tags();
  }
  tags();
  if (acks === 0) w.context.noResponse = true;
  return w;
}

type Api = ((connection: unknown, ...args: unknown[]) => void) & { key: number; version: number };
type ProduceVersion = { api: unknown; parseResponse: ResponseParser<unknown> };
const LIBRARY_PRODUCE: Record<number, ProduceVersion> = {
  3: produceV3,
  4: produceV4,
  5: produceV5,
  6: produceV6,
  7: produceV7,
  8: produceV8,
  9: produceV9,
  10: produceV10,
  11: produceV11,
};
const fastApis = new Map<number, Api>();

/**
 * The Produce API of `version` with this encoder: the library's response parser and framing (the
 * connection adds the header); compressed sends go to the library's own encoder. Undefined for a
 * version not handled here (the library's API is used then).
 */
export function fastProduceApi(version: number): Api | undefined {
  const known = fastApis.get(version);
  if (known) return known;
  const lib = LIBRARY_PRODUCE[version];
  if (!lib) return undefined;
  const libApi = lib.api as Api;
  const flexible = version >= 9;
  const encoded = createAPI(
    0,
    version,
    ((acks: number, timeout: number, messages: ProduceMessage[], options?: ProduceOptions) =>
      createProduceRequest(version, acks, timeout, messages, options ?? {})) as never,
    lib.parseResponse,
    flexible,
    flexible,
  ) as unknown as Api;
  const api = ((connection: unknown, ...args: unknown[]) => {
    const options = args[3] as ProduceOptions | undefined;
    if ((options?.compression ?? 'none') !== 'none') libApi(connection, ...args);
    else encoded(connection, ...args);
  }) as Api;
  api.key = 0;
  api.version = version;
  fastApis.set(version, api);
  return api;
}
