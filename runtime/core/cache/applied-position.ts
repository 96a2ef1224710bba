import type { RedisClient } from '../redis/client.ts';
import { SLOTS } from '../redis/slots.ts';
import { cacheKeys } from './keys.ts';
import { LuaScript } from './lua.ts';

/*
 * The applied position: the newest source transaction whose changes are in Redis, kept per hash slot
 * (keys.ts `applied`) as `<version> <gtid>`, so the page read returns its own slot's value in the same
 * atomic step (one slot per call on a cluster). Versions are fixed width, so the value's string order is
 * the version order and each key only ever moves forward (consumer replicas and the rebuild raise them
 * concurrently). The consumer raises the slots a batch touched; the rebuild raises every slot. A slot no
 * change touched keeps an older value, which is still a true lower bound for its pages. The package
 * reader returns it with every page: the `X-Package-Position` header.
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

/** Raises the markers of `slots` (default: every slot) to (version, gtid) where they are not past it. */
export async function raiseAppliedPosition(
  redis: RedisClient,
  prefix: string,
  version: string,
  gtid: string,
  slots?: Iterable<number>,
): Promise<void> {
  const keys = cacheKeys(prefix);
  const raises: Promise<unknown>[] = [];
  const raise = (slot: number) =>
    raises.push(raiseScript.run(redis, [keys.applied(slot)], [`${version} ${gtid}`]));
  if (slots) for (const slot of slots) raise(slot);
  else for (let slot = 0; slot < SLOTS; slot++) raise(slot);
  await Promise.all(raises);
}

/** The GTID of a marker value (as the read script returns it), or null when there is none. */
export function positionOfMarker(marker: Buffer | string | null | undefined): string | null {
  if (!marker || marker.length === 0) return null;
  const text = marker.toString();
  const cut = text.indexOf(' ');
  return cut < 0 ? null : text.slice(cut + 1);
}
