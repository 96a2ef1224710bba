import type { Redis } from 'ioredis';
import { cacheKeys } from './keys.ts';
import { LuaScript } from './lua.ts';

/*
 * The applied position: the newest source transaction whose changes are in Redis, kept in one key
 * (`<prefix>:meta:applied`) as `<version> <gtid>`. Versions are fixed width, so the value's string order
 * is the version order and the key only ever moves forward (consumer replicas and the rebuild raise it
 * concurrently). The package reader returns it with every page: the `X-Package-Position` header.
 */

/** KEYS[1] the marker; ARGV[1] `<version> <gtid>`; sets it only when newer. */
const raiseScript = new LuaScript(
  `
local current = redis.call('GET', KEYS[1])
if current and current >= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`,
  1,
);

export function appliedPositionKey(prefix: string): string {
  return cacheKeys(prefix).meta('applied');
}

/** Raises the marker to (version, gtid) unless it is already at or past it. */
export async function raiseAppliedPosition(
  redis: Redis,
  prefix: string,
  version: string,
  gtid: string,
): Promise<void> {
  await raiseScript.run(redis, [appliedPositionKey(prefix)], [`${version} ${gtid}`]);
}

/** The GTID of a marker value (as the read script returns it), or null when there is none. */
export function positionOfMarker(marker: Buffer | string | null | undefined): string | null {
  if (!marker || marker.length === 0) return null;
  const text = marker.toString();
  const cut = text.indexOf(' ');
  return cut < 0 ? null : text.slice(cut + 1);
}
