import { LuaScript } from './lua.ts';

/*
 * The scripts of the cache. Versions are fixed-width decimal strings (position.ts), so Lua's string
 * comparison orders them. Every key a script touches is passed in KEYS (never built in Lua), and the
 * keys of one call share one hash tag (keys.ts), so each call runs on one Redis Cluster slot.
 *
 * Package entries are rendered at write time: the writer passes each row's JSON fragment of the entry
 * (rendered in Node from the canonical row, so numbers and escaping are exact) and the apply script
 * assembles `<package id> \1 <entry up to the package name>` in the user's entries hash whenever the
 * purchase or its payment changes, in the same atomic step as the version check. The package name is
 * looked up at read time in the catalog hash (and spliced in by the reader), so a rename stays one
 * write. `\1` cannot occur in JSON text (control characters are escaped) nor in an id.
 */

/**
 * Applies one row change to one slot if it is newer than the copy Redis holds there; returns 1 when
 * applied, 0 when stale, or {'previous', <purchase id>} (nothing written) when a payment's copy names a
 * previous purchase the call did not declare: the writer calls again with that purchase's key.
 * Every key is declared and all of them share the owner's hash tag (keys.ts), so the call is one slot.
 * purchase: KEYS[1] the row copy under its user, KEYS[2] the user's index, KEYS[3] the user's entries.
 * payment: KEYS[1] the row copy under its user, KEYS[2] its purchase's copy, KEYS[3] the user's
 *   entries, KEYS[4] the previous purchase's copy (= KEYS[2] when none); ARGV[8] that purchase's id.
 * package: KEYS[1] the package row, KEYS[2] the catalog names (both in the catalog slot).
 * ARGV: version, canonical JSON ('' = tombstone), kind (purchase|payment|package), owner id, score,
 * row id, then the entry fragments ('' for a tombstone):
 *   purchase: head (`{"purchase_id":…,"payment":`), tail (`,"package":{"id":…,"name":`), package id;
 *   payment: its part (`{"id":…,"status":…},"paid":…`), then the declared previous purchase id;
 *   package: its name as a JSON string.
 * The index and the rendered entry change in the same atomic step as the row, so a reader never sees an
 * index or an entry that disagrees with the rows. A purchase holds its payment's part of the entry
 * (`paye`) beside the pointer, so rendering reads only the purchase's own copy. The pointer carries its
 * own version (`payv`) because a purchase's payments (deleted, then replaced) may sit on different
 * partitions and arrive out of order. A row that moves to another user is written as a tombstone under
 * the old owner and as the row under the new one: two calls, two slots (writer.ts).
 */
export const applyChangeScript = new LuaScript(
  `
local row = KEYS[1]
local version, data, kind, owner, score, id =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local current = redis.call('HGET', row, 'v')
if current and current >= version then return 0 end
-- (Re)renders a purchase's entry from its own copy (fragments and its payment's part).
local function render(purchaseKey, purchaseId, entries)
  local p = redis.call('HMGET', purchaseKey, 'e', 't', 'k', 'pay', 'paye')
  local head, tail, pkg, pay, part = p[1], p[2], p[3], p[4], p[5]
  if not head or head == '' then return end
  local payment = 'null,"paid":false'
  if pay and part and part ~= '' then payment = part end
  redis.call('HSET', entries, purchaseId, pkg .. '\\1' .. head .. payment .. tail)
end
if kind == 'purchase' then
  local index, entries = KEYS[2], KEYS[3]
  if data == '' then
    redis.call('ZREM', index, id)
    redis.call('HDEL', entries, id)
  else
    redis.call('ZADD', index, score, id)
  end
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner, 'e', ARGV[7], 't', ARGV[8], 'k', ARGV[9])
  render(row, id, entries)
elseif kind == 'payment' then
  local purchase, entries, previousKey, declared = KEYS[2], KEYS[3], KEYS[4], ARGV[8]
  local previous = redis.call('HGET', row, 'o')
  if previous and previous ~= owner then
    if previous ~= declared then return {'previous', previous} end
    if redis.call('HGET', previousKey, 'pay') == id then
      redis.call('HDEL', previousKey, 'pay', 'paye')
      render(previousKey, previous, entries)
    end
  end
  local pointerVersion = redis.call('HGET', purchase, 'payv')
  if not pointerVersion or pointerVersion < version then
    if data == '' then
      if redis.call('HGET', purchase, 'pay') == id then redis.call('HDEL', purchase, 'pay', 'paye') end
    else
      redis.call('HSET', purchase, 'pay', id)
    end
    redis.call('HSET', purchase, 'payv', version)
  end
  if redis.call('HGET', purchase, 'pay') == id then redis.call('HSET', purchase, 'paye', ARGV[7]) end
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner, 'e', ARGV[7])
  render(purchase, owner, entries)
else
  local names = KEYS[2]
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner)
  if data == '' then redis.call('HDEL', names, id) else redis.call('HSET', names, id, ARGV[7]) end
end
return 1
`,
  4,
);

/**
 * Reads one page of a user's purchase package in one round trip to the user's slot: the slot's ready
 * marker, the index range, one HMGET of the rendered entries, the slot's applied position and the
 * token's rows. It does no string building (Lua interns every string it makes, which cost more Redis
 * time than the reads themselves): the api splices the package names in (`reader.ts`).
 * KEYS[1] the slot's ready marker, KEYS[2] the user's index, KEYS[3] the user's entries, KEYS[4] the
 * slot's applied position (applied-position.ts), then ARGV[5] token rows (the user's copies), then,
 * on one server (standalone, Sentinel), the catalog names: their HMGET joins the same call. On a
 * cluster the catalog is another slot and the reader asks for the names after the page.
 * ARGV: limit, cursor score ('' = first page), cursor id, version floor ('' = no token), token rows.
 * Returns {'miss'} | {'behind'} | {'hit', more, {entry, …}, position[, {package id, name, …}]}: the
 * position read in the same atomic step as the page, so the page holds at least what it names.
 */
export const readPackageScript = new LuaScript(
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'miss'} end
local limit, cursorScore, cursorId, floor = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if floor ~= '' then
  for i = 5, 4 + tonumber(ARGV[5]) do
    local v = redis.call('HGET', KEYS[i], 'v')
    if not v or v < floor then return {'behind'} end
  end
end
local ids
if cursorScore == '' then
  ids = redis.call('ZREVRANGE', KEYS[2], 0, limit)
else
  ids = {}
  local after, offset = tonumber(cursorScore), 0
  while #ids <= limit do
    local batch = redis.call('ZREVRANGEBYSCORE', KEYS[2], cursorScore, '-inf', 'WITHSCORES', 'LIMIT', offset, limit + 1)
    if #batch == 0 then break end
    for j = 1, #batch, 2 do
      if #ids > limit then break end
      if tonumber(batch[j + 1]) < after or batch[j] < cursorId then ids[#ids + 1] = batch[j] end
    end
    offset = offset + #batch / 2
  end
end
local more = 0
if #ids > limit then
  ids[#ids] = nil
  more = 1
end
local position = redis.call('GET', KEYS[4]) or ''
if #ids == 0 then return {'hit', 0, {}, position} end
local entries = redis.call('HMGET', KEYS[3], unpack(ids))
local wanted, seen = {}, {}
for i = 1, #entries do
  local entry = entries[i]
  -- An indexed purchase without its entry means Redis is not complete: let MySQL answer.
  if not entry then return {'miss'} end
  local pkg = string.sub(entry, 1, string.find(entry, '\\1', 1, true) - 1)
  if not seen[pkg] then
    seen[pkg] = true
    wanted[#wanted + 1] = pkg
  end
end
if #KEYS == 4 + tonumber(ARGV[5]) then return {'hit', more, entries, position} end
local found = redis.call('HMGET', KEYS[#KEYS], unpack(wanted))
local names = {}
for j = 1, #wanted do
  -- Likewise a purchase whose package is not in the cached catalog.
  if not found[j] then return {'miss'} end
  names[#names + 1] = wanted[j]
  names[#names + 1] = found[j]
end
return {'hit', more, entries, position, names}
`,
  -1,
);

/**
 * Drops a row's version (`v`) and, on a purchase, its payment pointer (`pay`, `payv`, `paye`) when they
 * hold exactly the values observed (ARGV[1], ARGV[2]; '' = leave that one alone), so the next write
 * of the row applies whatever its version. The rebuild uses it on versions beyond what the source
 * has produced (forged), then writes the row as MySQL has it. Equality, not "greater than", so a
 * genuine change applied meanwhile is never dropped. Returns 1 when something was dropped.
 */
export const dropVersionScript = new LuaScript(
  `
local dropped = 0
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'v') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'v')
  dropped = 1
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'payv') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'pay', 'payv', 'paye')
  dropped = 1
end
return dropped
`,
  1,
);
