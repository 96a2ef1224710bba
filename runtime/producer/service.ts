import { readCheckpoint } from '../core/checkpoint/store.ts';
import type { Logger } from '../core/logger.ts';
import { listBinlogs, locateTimestamp } from './binlog/locate.ts';
import { BinlogReader } from './binlog/reader.ts';
import { type ProducerConfig, tableSelected } from './config.ts';
import { acquirePipelineLock } from './lock.ts';
import type { ProducerMetrics } from './metrics.ts';
import {
  initialCheckpoint,
  ResumingBinlogStream,
  readerStartOf,
  readerStartOfStartFrom,
} from './pipeline.ts';
import { checkPositionOnServer, resumePositionOf } from './position-check.ts';
import { BinlogPositionUnavailableError } from './position-errors.ts';
import { checkSource } from './preflight.ts';
import { Publisher, type PublisherOptions, publisherOptionsFrom } from './publisher.ts';
import { runSnapshot } from './snapshot.ts';
import { startLagMonitor } from './source-lag.ts';

export type Readiness = { ready: boolean; reason?: string };

export type RunningProducer = {
  /** Resolves after stop(); rejects when the producer had to give up (fenced, lock lost, purged binlog). */
  done: Promise<void>;
  /** Streaming the binlog and able to publish (Kafka transactions not failing in a row). */
  isReady: () => boolean;
  /** isReady with the reason when not ready, for /readyz. */
  readiness: () => Readiness;
  stop: () => Promise<void>;
};

/**
 * Starts one producer: checks the source, waits for the pipeline lock, resumes from the checkpoint
 * (or the configured start, with an optional snapshot) and streams until stop().
 */
export async function startProducer(
  cfg: ProducerConfig,
  deps: { log: Logger; metrics: ProducerMetrics; onAck?: PublisherOptions['onAck']; signal?: AbortSignal },
): Promise<RunningProducer> {
  const { log, metrics } = deps;
  const source = await checkSource(cfg.mysqlUrl, cfg.serverId, cfg.databases);
  log.info(
    { flavor: source.flavor, version: source.version, gtid: source.gtidPos },
    'source binlog settings ok',
  );

  const lock = await acquirePipelineLock({
    mysqlUrl: cfg.mysqlUrl,
    pipeline: cfg.name,
    waitMs: cfg.lockWaitMs,
    log,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  metrics.lockHeld.set(1);

  const publisher = new Publisher({
    ...publisherOptionsFrom(cfg, log, metrics),
    ...(deps.onAck ? { onAck: deps.onAck } : {}),
  });
  const src = { name: cfg.name, serverId: source.serverId, topicPrefix: cfg.topicPrefix };
  const reader = new BinlogReader({
    mysqlUrl: cfg.mysqlUrl,
    serverId: cfg.serverId,
    databases: cfg.databases,
    tableSelected: (db, table) => tableSelected(cfg, db, table),
    ops: cfg.ops,
    log,
  });
  const streamer = new ResumingBinlogStream({ reader, publisher, src, log, metrics });
  let lag: { stop: () => Promise<void> } | undefined;
  let stopped = false;

  const teardown = async () => {
    await lag?.stop();
    await publisher.close();
    await lock.release();
    metrics.lockHeld.set(0);
  };

  let first: Parameters<ResumingBinlogStream['run']>[0];
  try {
    await publisher.init();
    let checkpoint = await readCheckpoint({
      brokers: cfg.brokers,
      security: cfg.security,
      topicPrefix: cfg.topicPrefix,
      name: cfg.name,
    });
    if (checkpoint?.snapshot) {
      log.info({ checkpoint }, 'resuming the interrupted snapshot');
      checkpoint = await runSnapshot({ cfg, publisher, src, log, metrics, resume: checkpoint });
    }
    if (checkpoint) {
      log.info({ checkpoint }, 'resuming from checkpoint');
      const problem = await checkPositionOnServer(cfg.mysqlUrl, resumePositionOf(checkpoint));
      if (problem) {
        if (cfg.snapshotMode !== 'when_needed') throw problem;
        log.warn(
          { err: problem },
          'checkpoint position unavailable: re-snapshotting (SNAPSHOT_MODE=when_needed)',
        );
        checkpoint = await runSnapshot({ cfg, publisher, src, log, metrics });
      }
    } else if (cfg.snapshotMode !== 'never') {
      checkpoint = await runSnapshot({ cfg, publisher, src, log, metrics });
    } else {
      const initial = initialCheckpoint(cfg.startFrom, source);
      if (initial) {
        // A START_FROM the server cannot serve is refused before it becomes the checkpoint.
        const problem = await checkPositionOnServer(cfg.mysqlUrl, resumePositionOf(initial));
        if (problem) throw problem;
        publisher.enqueue({ records: [], progress: initial });
        await publisher.flush();
        checkpoint = initial;
      }
      log.info({ startFrom: cfg.startFrom }, 'no checkpoint: starting from the configured position');
    }
    first = {
      start: checkpoint
        ? readerStartOf(checkpoint)
        : await readerStartOfStartFrom(cfg.startFrom, {
            oldestFile: async () => {
              const files = await listBinlogs(cfg.mysqlUrl);
              if (!files[0]) throw new Error('the source has no binary logs');
              return files[0];
            },
            fileAt: (atMs) => locateTimestamp(cfg.mysqlUrl, atMs, cfg.serverId),
          }),
      checkpoint,
    };
  } catch (err) {
    await teardown();
    throw err;
  }

  lag = startLagMonitor({
    mysqlUrl: cfg.mysqlUrl,
    acked: () => publisher.acked,
    queued: () => publisher.queuedRecords,
    set: (s) => metrics.secondsBehindSource.set(s),
  });

  const fatal = Promise.race([
    publisher.fatal,
    lock.lost.then((err) => {
      throw new Error('lost the pipeline lock connection: stopping so that only one producer publishes', {
        cause: err,
      });
    }),
  ]);
  const done = (async () => {
    try {
      for (;;) {
        try {
          await Promise.race([streamer.run(first), fatal]);
          return;
        } catch (err) {
          if (
            !(err instanceof BinlogPositionUnavailableError) ||
            cfg.snapshotMode !== 'when_needed' ||
            stopped
          )
            throw err;
          log.warn(
            { err },
            'binlog position purged while streaming: re-snapshotting (SNAPSHOT_MODE=when_needed)',
          );
          const cp = await runSnapshot({ cfg, publisher, src, log, metrics });
          first = { start: readerStartOf(cp), checkpoint: cp };
        }
      }
    } finally {
      await streamer.stop();
      if (!stopped) reader.stop();
      await teardown();
    }
  })();
  done.catch(() => undefined);

  const readiness = (): Readiness => {
    const stalled = publisher.stalled;
    if (stalled) return { ready: false, reason: stalled };
    if (!streamer.streaming) return { ready: false, reason: 'not streaming the binlog' };
    return { ready: true };
  };
  return {
    done,
    readiness,
    isReady: () => readiness().ready,
    async stop() {
      stopped = true;
      await streamer.stop();
      await done.catch(() => undefined);
    },
  };
}
