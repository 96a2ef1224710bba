/**
 * What the operator saw of a consumer group's lag. Anything but `lag` is an explicit state: the
 * autoscaler holds the current replica count instead of inventing a number from it.
 */
export type LagObservation =
  | {
      kind: 'lag';
      /** Sum over every partition of (end offset - committed offset). */
      total: bigint;
      /** Partitions of the widest topic: more consumers than that would sit idle. */
      partitions: number;
      /** Partitions with no committed offset (counted as fully lagging). */
      uncommittedPartitions: number;
    }
  /** The group has never committed on any partition: lag is undefined, not "everything". */
  | { kind: 'no-committed-offsets'; partitions: number }
  /** None of the topics exist yet (the producer has not created them). */
  | { kind: 'topics-missing'; topics: string[] }
  /** The broker could not be asked. */
  | { kind: 'unavailable'; message: string };

export type ScalePolicy = {
  minReplicas: number;
  maxReplicas: number;
  /** Target lag per replica: desired = ceil(totalLag / lagThreshold). */
  lagThreshold: number;
  /** Lag at or below this does not drive scaling (replicas settle at minReplicas); 0 = any lag counts. */
  activationLag: number;
  /** Scale-down uses the highest recommendation of this window (like the HPA); scale-up is immediate. */
  scaleDownStabilizationMs: number;
};
