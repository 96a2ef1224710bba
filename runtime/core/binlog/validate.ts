import { GtidSyntaxError, mariaDomainsBehind, mysqlSubset, parseMariaPos, parseMysqlSet } from './gtid.ts';
import type { ServerBinlogState } from './server.ts';

/** A position to resume from: a GTID (set), a file/pos, or both (both must hold). */
export type ResumePosition = { gtid?: string | null; file?: string; pos?: number };

export type InvalidReason =
  | 'BinlogFilePurged'
  | 'BinlogFileNotFound'
  | 'PositionBeyondEnd'
  | 'GtidPurged'
  | 'GtidNotOnServer'
  | 'GtidMalformed'
  | 'NoPosition';

export type PositionVerdict =
  | { valid: true; message: string }
  | { valid: false; reason: InvalidReason; message: string; remedy: string; purged: boolean };

/**
 * What to tell the operator of the caller when a position is unusable, in the caller's own terms
 * (pipeline spec fields for the operator, environment variables for the producer).
 */
export type PositionRemedies = {
  /** The events after the position were purged: only a new snapshot (or another start) helps. */
  purged: string;
  /** The position never existed on this server (another server, a typo, not written yet). */
  notFound: string;
};

export const GENERIC_REMEDIES: PositionRemedies = {
  purged:
    'the events after this position are gone from the server: re-snapshot and continue from the head, ' +
    'or start from a position the server still has (SHOW BINARY LOGS)',
  notFound:
    'the position does not exist on this server (another server, a typo, or a position not written yet): ' +
    'start from a file listed by SHOW BINARY LOGS, a GTID the server has executed, or earliest/latest',
};

/** `mariadb-bin.000042` → ['mariadb-bin', 42]; binlog names are <basename>.<sequence>. */
function splitName(name: string): [string, number] | undefined {
  const m = /^(.*)\.(\d+)$/.exec(name);
  return m?.[1] !== undefined && m[2] !== undefined ? [m[1], Number(m[2])] : undefined;
}

function checkFile(
  file: string,
  pos: number | undefined,
  state: ServerBinlogState,
  remedies: PositionRemedies,
): PositionVerdict | undefined {
  const found = state.files.find((f) => f.name === file);
  if (found) {
    if (pos !== undefined && (pos < 4 || pos > found.size)) {
      return {
        valid: false,
        reason: 'PositionBeyondEnd',
        message: `position ${file}:${pos} is outside the file (4..${found.size})`,
        remedy: remedies.notFound,
        purged: false,
      };
    }
    return undefined;
  }
  const wanted = splitName(file);
  const oldest = state.files[0] && splitName(state.files[0].name);
  if (wanted && oldest && wanted[0] === oldest[0] && wanted[1] < oldest[1]) {
    return {
      valid: false,
      reason: 'BinlogFilePurged',
      message: `binlog file ${file} has been purged (oldest on the server: ${state.files[0]?.name})`,
      remedy: remedies.purged,
      purged: true,
    };
  }
  return {
    valid: false,
    reason: 'BinlogFileNotFound',
    message: `binlog file ${file} is not on the server (it has ${state.files[0]?.name} … ${state.head.file})`,
    remedy: remedies.notFound,
    purged: false,
  };
}

function checkGtid(
  gtid: string,
  state: ServerBinlogState,
  remedies: PositionRemedies,
): PositionVerdict | undefined {
  try {
    if (state.flavor === 'mariadb') {
      const pos = parseMariaPos(gtid);
      if (pos.size === 0) throw new GtidSyntaxError('mariadb', gtid);
      const purgedDomains = mariaDomainsBehind(pos, parseMariaPos(state.gtidPurged));
      if (purgedDomains.length > 0) {
        return {
          valid: false,
          reason: 'GtidPurged',
          message: `GTID ${gtid} is older than what the binlogs still hold (${state.gtidPurged} at the start of ${state.files[0]?.name}; domains ${purgedDomains.join(', ')})`,
          remedy: remedies.purged,
          purged: true,
        };
      }
      // The position must not be ahead of the server in any domain it names.
      const ahead = mariaDomainsBehind(parseMariaPos(state.gtidExecuted), pos);
      if (ahead.length > 0) {
        return {
          valid: false,
          reason: 'GtidNotOnServer',
          message: `GTID ${gtid} is ahead of the server (@@gtid_binlog_pos ${state.gtidExecuted || '(empty)'}; domains ${ahead.join(', ')})`,
          remedy: remedies.notFound,
          purged: false,
        };
      }
      return undefined;
    }
    const set = parseMysqlSet(gtid);
    if (!mysqlSubset(parseMysqlSet(state.gtidPurged), set)) {
      return {
        valid: false,
        reason: 'GtidPurged',
        message: `GTID set ${gtid} lacks transactions the server has purged (@@gtid_purged ${state.gtidPurged})`,
        remedy: remedies.purged,
        purged: true,
      };
    }
    if (!mysqlSubset(set, parseMysqlSet(state.gtidExecuted))) {
      return {
        valid: false,
        reason: 'GtidNotOnServer',
        message: `GTID set ${gtid} has transactions the server never executed (@@gtid_executed ${state.gtidExecuted})`,
        remedy: remedies.notFound,
        purged: false,
      };
    }
    return undefined;
  } catch (err) {
    if (!(err instanceof GtidSyntaxError)) throw err;
    return {
      valid: false,
      reason: 'GtidMalformed',
      message: err.message,
      remedy: remedies.notFound,
      purged: false,
    };
  }
}

/**
 * Whether the server can still stream every event after `position`. Purge is told apart from "never
 * existed" because the remedies differ: only a purge can be fixed by a new snapshot.
 */
export function validatePosition(
  position: ResumePosition,
  state: ServerBinlogState,
  remedies: PositionRemedies = GENERIC_REMEDIES,
): PositionVerdict {
  const hasGtid = typeof position.gtid === 'string' && position.gtid.length > 0;
  if (!hasGtid && position.file === undefined) {
    return {
      valid: false,
      reason: 'NoPosition',
      message: 'neither a GTID nor a binlog file was given',
      remedy: remedies.notFound,
      purged: false,
    };
  }
  const failures = [
    position.file !== undefined ? checkFile(position.file, position.pos, state, remedies) : undefined,
    hasGtid ? checkGtid(position.gtid as string, state, remedies) : undefined,
  ].filter((v): v is Exclude<PositionVerdict, { valid: true }> => v !== undefined);
  // A purge is reported first: it is the one a new snapshot can repair.
  const failure = failures.find((f) => f.purged) ?? failures[0];
  if (failure) return failure;
  const where = [
    hasGtid ? `GTID ${position.gtid}` : '',
    position.file ? `${position.file}:${position.pos ?? 4}` : '',
  ]
    .filter(Boolean)
    .join(' / ');
  return { valid: true, message: `${where} is available on the server` };
}
