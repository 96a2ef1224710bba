import { LuaScript } from './lua.ts';

/*
 * The two scripts of the cache. Versions are fixed-width decimal strings (position.ts), so Lua's
 * string comparison orders them. Both scripts derive some keys from the prefix passed in ARGV, using
 * the layout of keys.ts (row keys `<prefix>:row:<table>:<id>`, user index `<prefix>:{u:<user>}:purchases`).
 */

/**
 * Applies one row change if it is newer than what Redis holds; returns 1 when applied, 0 when stale.
 * KEYS[1] row, KEYS[2] owner's key (purchases: the user's index; payments: the purchase row; else the row).
 * ARGV: version, canonical JSON ('' = tombstone), kind (purchase|payment|row), owner id, score, row id, prefix.
 * The owner fields are updated in the same atomic step as the row, so a reader never sees an index that
 * disagrees with the rows. The payment pointer on a purchase carries its own version (`payv`) because a
 * purchase's payments (deleted, then replaced) may sit on different partitions and arrive out of order.
 */
export const applyChangeScript = new LuaScript(
  `
local row, ownerKey = KEYS[1], KEYS[2]
local version, data, kind, owner, score, id, prefix =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local current = redis.call('HGET', row, 'v')
if current and current >= version then return 0 end
local previous = redis.call('HGET', row, 'o')
if kind == 'purchase' then
  if previous and previous ~= owner then
    redis.call('ZREM', prefix .. ':{u:' .. previous .. '}:purchases', id)
  end
  if data == '' then
    redis.call('ZREM', ownerKey, id)
  else
    redis.call('ZADD', ownerKey, score, id)
  end
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
end
redis.call('HSET', row, 'v', version, 'd', data, 'o', owner)
return 1
`,
  2,
);

/**
 * Reads one page of a user's purchase package in one round trip.
 * KEYS[1] ready marker, KEYS[2] the user's index.
 * ARGV: row key prefix, limit, cursor score ('' = first page), cursor id, version floor ('' = no token),
 * then the token's rows as `<table>:<id>`.
 * Returns {'miss'} | {'behind'} | {'hit', more, [purchase, payment, package] JSON per item ('' if absent)}.
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
local ids = {}
if cursorScore == '' then
  ids = redis.call('ZREVRANGE', KEYS[2], 0, limit)
else
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
local out = {'hit', #ids > limit and 1 or 0}
for i = 1, math.min(#ids, limit) do
  local purchaseKey = rows .. 'purchases:' .. ids[i]
  local purchase = redis.call('HGET', purchaseKey, 'd') or ''
  local payment, package = '', ''
  local pay = redis.call('HGET', purchaseKey, 'pay')
  if pay then payment = redis.call('HGET', rows .. 'payments:' .. pay, 'd') or '' end
  if purchase ~= '' then
    package = redis.call('HGET', rows .. 'packages:' .. cjson.decode(purchase).package_id, 'd') or ''
  end
  out[#out + 1] = purchase
  out[#out + 1] = payment
  out[#out + 1] = package
end
return out
`,
  2,
);
