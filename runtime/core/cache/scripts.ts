import { LuaScript } from './lua.ts';

/*
 * The two scripts of the cache. Versions are fixed-width decimal strings (position.ts), so Lua's
 * string comparison orders them. Both scripts derive some keys from the prefix passed in ARGV, using
 * the layout of keys.ts (row keys `<prefix>:row:<table>:<id>`, user keys `<prefix>:{u:<user>}:…`).
 *
 * Package entries are rendered at write time: the writer passes each row's JSON fragment of the entry
 * (rendered in Node from the canonical row, so numbers and escaping are exact) and the apply script
 * assembles `<package id> \1 <entry up to the package name>` in the user's entries hash whenever the
 * purchase or its payment changes, in the same atomic step as the version check. The package name is
 * looked up at read time in the catalog hash (and spliced in by the reader), so a rename stays one write. `\1` cannot occur in
 * JSON text (control characters are escaped) nor in an id.
 */

/**
 * Applies one row change if it is newer than what Redis holds; returns 1 when applied, 0 when stale.
 * KEYS[1] row, KEYS[2] owner's key (purchases: the user's index; payments: the purchase row;
 * packages: the catalog names hash; else the row).
 * ARGV: version, canonical JSON ('' = tombstone), kind (purchase|payment|package|row), owner id, score,
 * row id, prefix, then the entry fragments ('' for a tombstone):
 *   purchase: head (`{"purchase_id":…,"payment":`), tail (`,"package":{"id":…,"name":`), package id;
 *   payment: its part (`{"id":…,"status":…},"paid":…`); package: its name as a JSON string.
 * The owner fields and the rendered entries change in the same atomic step as the row, so a reader never
 * sees an index or an entry that disagrees with the rows. The payment pointer on a purchase carries its
 * own version (`payv`) because a purchase's payments (deleted, then replaced) may sit on different
 * partitions and arrive out of order.
 */
export const applyChangeScript = new LuaScript(
  `
local row, ownerKey = KEYS[1], KEYS[2]
local version, data, kind, owner, score, id, prefix =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local current = redis.call('HGET', row, 'v')
if current and current >= version then return 0 end
local previous = redis.call('HGET', row, 'o')
local function entries(user) return prefix .. ':{u:' .. user .. '}:entries' end
-- (Re)renders a purchase's entry from its row and the payment its pointer names.
local function render(purchaseId)
  local p = redis.call('HMGET', prefix .. ':row:purchases:' .. purchaseId, 'e', 't', 'k', 'o', 'pay')
  local head, tail, pkg, user, pay = p[1], p[2], p[3], p[4], p[5]
  if not head or head == '' then return end
  local payment = 'null,"paid":false'
  if pay then
    local part = redis.call('HGET', prefix .. ':row:payments:' .. pay, 'e')
    if part and part ~= '' then payment = part end
  end
  redis.call('HSET', entries(user), purchaseId, pkg .. '\\1' .. head .. payment .. tail)
end
if kind == 'purchase' then
  if previous and previous ~= owner then
    redis.call('ZREM', prefix .. ':{u:' .. previous .. '}:purchases', id)
    redis.call('HDEL', entries(previous), id)
  end
  if data == '' then
    redis.call('ZREM', ownerKey, id)
    redis.call('HDEL', entries(owner), id)
  else
    redis.call('ZADD', ownerKey, score, id)
  end
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner, 'e', ARGV[8], 't', ARGV[9], 'k', ARGV[10])
  render(id)
elseif kind == 'payment' then
  if previous and previous ~= owner then
    local old = prefix .. ':row:purchases:' .. previous
    if redis.call('HGET', old, 'pay') == id then redis.call('HDEL', old, 'pay') end
  end
  local pointerVersion = redis.call('HGET', ownerKey, 'payv')
  if not pointerVersion or pointerVersion < version then
    if data == '' then
      if redis.call('HGET', ownerKey, 'pay') == id then redis.call('HDEL', ownerKey, 'pay') end
    else
      redis.call('HSET', ownerKey, 'pay', id)
    end
    redis.call('HSET', ownerKey, 'payv', version)
  end
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner, 'e', ARGV[8])
  if previous and previous ~= owner then render(previous) end
  render(owner)
elseif kind == 'package' then
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner)
  if data == '' then redis.call('HDEL', ownerKey, id) else redis.call('HSET', ownerKey, id, ARGV[8]) end
else
  redis.call('HSET', row, 'v', version, 'd', data, 'o', owner)
end
return 1
`,
  2,
);

/**
 * Reads one page of a user's purchase package in one round trip: the index range, one HMGET of the
 * rendered entries, one HMGET of the page's package names. It does no string building (Lua interns
 * every string it makes, which cost more Redis time than the reads themselves): the api splices the
 * names in (`reader.ts`).
 * KEYS[1] ready marker, KEYS[2] the user's index, KEYS[3] the user's entries, KEYS[4] the catalog names,
 * KEYS[5] the applied position (applied-position.ts).
 * ARGV: row key prefix, limit, cursor score ('' = first page), cursor id, version floor ('' = no token),
 * then the token's rows as `<table>:<id>`.
 * Returns {'miss'} | {'behind'} | {'hit', more, {entry, …}, {package id, name JSON, …}, position}: the
 * position read in the same atomic step as the page, so the page holds at least what it names.
 */
export const readPackageScript = new LuaScript(
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'miss'} end
local rows, limit, cursorScore, cursorId, floor = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if floor ~= '' then
  for i = 6, #ARGV do
    local v = redis.call('HGET', rows .. ARGV[i], 'v')
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
local position = redis.call('GET', KEYS[5]) or ''
if #ids == 0 then return {'hit', 0, {}, {}, position} end
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
local found = redis.call('HMGET', KEYS[4], unpack(wanted))
local names = {}
for j = 1, #wanted do
  -- Likewise a purchase whose package is not in the cached catalog.
  if not found[j] then return {'miss'} end
  names[#names + 1] = wanted[j]
  names[#names + 1] = found[j]
end
return {'hit', more, entries, names, position}
`,
  5,
);

/**
 * Drops a row's version (`v`) and, on a purchase, its payment pointer (`pay`, `payv`) when they still
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
  redis.call('HDEL', KEYS[1], 'pay', 'payv')
  dropped = 1
end
return dropped
`,
  1,
);
