import { randomBytes } from 'node:crypto';

/**
 * Prefixed, time-sortable ids (ULID layout: 48-bit millisecond time + 80 random bits, Crockford
 * base32). Ids made by one process in the same millisecond stay ordered: the random part is
 * incremented instead of redrawn, so `ORDER BY id` matches creation order within a process.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const RANDOM_MAX = (1n << 80n) - 1n;

export type IdPrefix = 'pur' | 'pay' | 'evt';

let lastMs = -1;
let lastRandom = 0n;

function encode(value: bigint, chars: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  if (now <= lastMs) {
    // Same (or an earlier, after a clock step back) millisecond: keep the order monotonic.
    lastRandom = lastRandom === RANDOM_MAX ? 0n : lastRandom + 1n;
    if (lastRandom === 0n) lastMs += 1;
  } else {
    lastMs = now;
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) >> 1n; // leave headroom to increment
  }
  return `${prefix}_${encode(BigInt(lastMs), TIME_CHARS)}${encode(lastRandom, RANDOM_CHARS)}`;
}

export const ID_PATTERN = /^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$/;

/** True for an id of the given prefix (used to reject garbage path params before touching MySQL). */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}

/** A user id (the JWT `sub`) as the api accepts it in paths; tools taking a user id check the same. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
