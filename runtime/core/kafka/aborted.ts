// Read_committed filtering of one fetched partition, as the Java client does it (Kafka's
// Fetcher/CompletedFetch). The client library's own filter keeps a single range per producer id, so
// when a fetch holds two or more aborted transactions of one producer (a transactional id re-initialised
// after a crash or a failed transaction keeps its producer id) every one but the last was handed out
// as if committed; it also hands out an aborted transaction whose abort marker is not in the same
// response. This runs on every fetch response of the group consumer, after the library's filter.

/** The parts of a fetched record batch this needs (the library's RecordsBatch). */
export type FetchedBatch = {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  producerId: bigint;
  records: { key?: Buffer | null | undefined }[];
};

/** The parts of a fetched partition this needs (the library's FetchResponsePartition). */
export type FetchedPartition = {
  abortedTransactions?: { producerId: bigint; firstOffset: bigint }[] | null;
  records?: FetchedBatch[] | null;
};

const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;

/** A control batch's record key: int16 version, int16 type (0 = abort, 1 = commit). */
const isAbortMarker = (batch: FetchedBatch) => {
  const key = batch.records[0]?.key;
  return key !== undefined && key !== null && key.length >= 4 && key.readInt16BE(2) === 0;
};

/**
 * Empties the record list of every batch that belongs to an aborted transaction. The batches stay,
 * so the stream's fetch position still moves past them (dropping the last batch of a response would
 * make the consumer fetch it again, forever when it is the only batch that fits a response).
 *
 * The broker lists each aborted transaction overlapping the fetched range as (producer id, first
 * offset). Walking the batches in offset order, a producer becomes "aborted" once a listed first
 * offset is reached and stays so until its abort marker: its transactional data batches in between
 * are dropped. Returns how many records were dropped.
 */
export function dropAbortedBatches(partition: FetchedPartition): number {
  const batches = partition.records;
  const listed = partition.abortedTransactions;
  if (!batches || batches.length === 0 || !listed || listed.length === 0) return 0;
  const pending = [...listed].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  const aborted = new Set<bigint>();
  let next = 0;
  let dropped = 0;
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    for (let t = pending[next]; t !== undefined && t.firstOffset <= lastOffset; t = pending[++next]) {
      aborted.add(t.producerId);
    }
    if (batch.attributes & IS_CONTROL) {
      if (isAbortMarker(batch)) aborted.delete(batch.producerId);
      continue;
    }
    if (batch.attributes & IS_TRANSACTIONAL && aborted.has(batch.producerId)) {
      dropped += batch.records.length;
      batch.records = [];
    }
  }
  return dropped;
}
