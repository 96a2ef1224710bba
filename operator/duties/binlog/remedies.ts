import type { PositionRemedies } from '../../../runtime/core/binlog/validate.ts';

/** Position remedies in terms of the Pipeline spec, which is what the operator's users edit. */
export const SPEC_REMEDIES: PositionRemedies = {
  purged:
    'the events after this position are gone from the server: set spec.producer.snapshot to when_needed ' +
    'to re-snapshot and continue from the head, or set spec.producer.startFrom to earliest, latest or a ' +
    'position the server still has (SHOW BINARY LOGS)',
  notFound:
    'the position does not exist on this server (another server, a typo, or a position not written yet): ' +
    'set spec.producer.startFrom to a file listed by SHOW BINARY LOGS, a GTID up to @@gtid_binlog_pos, or earliest/latest',
};
