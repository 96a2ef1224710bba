/** A group offset to store: the next offset the group should read in that partition. */
export type PartitionOffset = { topic: string; partition: number; offset: bigint; leaderEpoch: number };

/**
 * Serialises offset commits: one request in flight at a time, and the offsets requested meanwhile
 * merged into the next one (the highest per partition). Two concurrent OffsetCommits for the same
 * partition can land in either order, so without this a lower offset could overwrite a higher one.
 * A call resolves once a request carrying its offsets (or higher ones) succeeded, and rejects with
 * that request's error otherwise (nothing is retried: a later commit covers it, or the partition is
 * replayed from the previous commit).
 */
export function createCommitter(
  send: (offsets: PartitionOffset[]) => Promise<void>,
): (offsets: PartitionOffset[]) => Promise<void> {
  const pending = new Map<string, PartitionOffset>();
  let waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  let inFlight = false;

  const flush = () => {
    if (inFlight || pending.size === 0) return;
    inFlight = true;
    const offsets = [...pending.values()];
    const settling = waiters;
    pending.clear();
    waiters = [];
    send(offsets)
      .then(
        () => {
          for (const w of settling) w.resolve();
        },
        (err: unknown) => {
          for (const w of settling) w.reject(err);
        },
      )
      .finally(() => {
        inFlight = false;
        flush();
      });
  };

  return (offsets) =>
    new Promise<void>((resolve, reject) => {
      if (offsets.length === 0) return resolve();
      for (const o of offsets) {
        const key = `${o.topic}\u0000${o.partition}`;
        const queued = pending.get(key);
        if (!queued || queued.offset < o.offset) pending.set(key, o);
      }
      waiters.push({ resolve, reject });
      flush();
    });
}
