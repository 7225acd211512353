-- Holds a quantity from a pool zone, all or nothing. Pool tickets are counters
-- here (the database picks the concrete tickets), so this is O(1) however large
-- the pool. Same session and per-fan checks as hold_seats.lua, in the same step.
-- KEYS: loaded, active, users, holds, zone meta.
-- ARGV: format, now_ms, user, hold_id, max_per_user (<= 0: no cap), zone_id, quantity.
-- Returns {'OK'} or {error code, details}.
local loaded, active, users, holds, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, user, id, max, zone, q =
  tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])

if redis.call('HGET', loaded, 'format') ~= ARGV[1] then return {'NOT_LOADED'} end
local kind = redis.call('HGET', meta, 'kind')
if not kind then return {'NO_ZONE'} end
if kind ~= 'pool' then return {'WRONG_KIND'} end
local exp = tonumber(redis.call('ZSCORE', active, user))
if not exp or exp <= now then return {'NOT_ADMITTED'} end
if redis.call('HEXISTS', holds, id) == 1 then return {'EXISTS'} end
local have = tonumber(redis.call('HGET', users, user) or '0')
if max > 0 and have + q > max then return {'LIMIT', have} end
local avail = tonumber(redis.call('HGET', meta, 'avail'))
if avail < q then return {'NOT_ENOUGH', avail} end

redis.call('HINCRBY', meta, 'avail', -q)
redis.call('HINCRBY', meta, 'held', q)
redis.call('HINCRBY', users, user, q)
redis.call('HSET', holds, id, cjson.encode({z = zone, u = user, t = now, s = 'h', q = q}))
return {'OK'}
