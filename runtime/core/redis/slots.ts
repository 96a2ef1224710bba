/**
 * Redis Cluster hash slots, computed here so keys can be chosen for a slot (the per-slot markers of
 * the cache layout) and grouped by slot. CRC16-XMODEM of the key's hash tag (the text between the
 * first `{` and the next `}`, when not empty) or of the whole key, modulo 16384, as Redis does.
 */
export const SLOTS = 16384;

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ b) & 0xff] as number);
  return crc;
}

/** The hash slot of a key (its hash tag when it has one). */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % SLOTS;
}

let tags: string[] | undefined;

/**
 * A short hash tag whose slot is `slot` (`s<n>` for the smallest n that lands there): a key holding
 * `{<tag>}` lives in that slot. Found once for all slots (about 160 000 CRCs, a few milliseconds).
 */
export function slotTag(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new RangeError(`no slot ${slot}`);
  if (!tags) {
    const found: string[] = new Array(SLOTS);
    let missing = SLOTS;
    for (let n = 0; missing > 0; n++) {
      const tag = `s${n}`;
      const s = crc16(Buffer.from(tag)) % SLOTS;
      if (found[s] === undefined) {
        found[s] = tag;
        missing--;
      }
    }
    tags = found;
  }
  return tags[slot] as string;
}
