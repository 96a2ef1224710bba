/**
 * The highest transaction the source has produced, as far as the consumer knows: a change whose
 * version lies beyond it cannot have come from the source (anything able to write a change topic
 * could otherwise publish a huge GTID, and the version guard would then refuse every real change of
 * that row forever).
 *
 * A change that goes beyond the known position makes the consumer ask MySQL again; live changes
 * always do (they are newer than the last answer), so the asks are coalesced: one query in flight,
 * and a caller waits for one that started after it asked. A change is refused only when a query that
 * started after it was read still has not reached it, and once more after `confirmDelayMs`: the
 * producer reads a transaction from the binlog after the source wrote it there, so a genuine change is
 * always within the answer.
 */
export class SourceHorizon {
  private readonly readSequence: () => Promise<bigint | null>;
  private readonly confirmDelayMs: number;
  private known = -1n;
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(readSequence: () => Promise<bigint | null>, opts: { confirmDelayMs?: number } = {}) {
    this.readSequence = readSequence;
    this.confirmDelayMs = opts.confirmDelayMs ?? 200;
  }

  /** The highest source sequence number known so far (-1 before the first answer). */
  get position(): bigint {
    return this.known;
  }

  /**
   * The versions (`<seq>.<row>`) that lie beyond everything the source has produced, each with the
   * reason to dead-letter it. Throws when MySQL cannot be asked (the caller retries).
   */
  async beyond(versions: readonly string[]): Promise<Map<number, string>> {
    const seqs = versions.map((v) => BigInt(v.slice(0, v.indexOf('.'))));
    const over = () => seqs.some((s) => s > this.known);
    if (!over()) return new Map();
    await this.refresh();
    if (over()) {
      await new Promise((r) => setTimeout(r, this.confirmDelayMs));
      await this.refresh();
    }
    const out = new Map<number, string>();
    seqs.forEach((s, i) => {
      if (s > this.known)
        out.set(
          i,
          `version beyond the source: GTID sequence ${s} but the source has produced up to ${this.known}`,
        );
    });
    return out;
  }

  /** A query that starts after this call (joins one that is queued, never one already running). */
  private refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.query().finally(() => {
        this.inFlight = undefined;
      });
      return this.inFlight;
    }
    this.queued ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.refresh();
      });
    return this.queued;
  }

  private async query(): Promise<void> {
    const seq = await this.readSequence();
    if (seq !== null && seq > this.known) this.known = seq;
  }
}
