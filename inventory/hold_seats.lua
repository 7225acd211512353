-- Holds every seat asked for, or none: the fan must be shopping now (session in
-- the waiting room's active set) and stay within the per-fan limit, all in the
-- same atomic step, so no check can go stale before the seats are taken.
-- KEYS: loaded, active, users, holds, zone meta, zone state, zone seats (id -> offset).
-- ARGV: format, now_ms, user, hold_id, max_per_user (<= 0: no cap), zone_id, seat ids...
-- Returns {'OK'} or {error code, details}.
local loaded, active, users, holds, meta, state, seats =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now, user, id, max, zone = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]

if redis.call('HGET', loaded, 'format') ~= ARGV[1] then return {'NOT_LOADED'} end
local kind = redis.call('HGET', meta, 'kind')
if not kind then return {'NO_ZONE'} end
if kind ~= 'seated' then return {'WRONG_KIND'} end
local exp = tonumber(redis.call('ZSCORE', active, user))
if not exp or exp <= now then return {'NOT_ADMITTED'} end
if redis.call('HEXISTS', holds, id) == 1 then return {'EXISTS'} end

local ids, offs, unknown = {}, {}, {}
for i = 7, #ARGV do
  local o = redis.call('HGET', seats, ARGV[i])
  if o then
    ids[#ids + 1], offs[#offs + 1] = ARGV[i], tonumber(o)
  else
    unknown[#unknown + 1] = ARGV[i]
  end
end
if #unknown > 0 then return {'UNKNOWN', unknown} end
local n = #offs
local have = tonumber(redis.call('HGET', users, user) or '0')
if max > 0 and have + n > max then return {'LIMIT', have} end

local taken = {}
for i, o in ipairs(offs) do
  if redis.call('GETRANGE', state, o, o) ~= '0' then taken[#taken + 1] = ids[i] end
end
if #taken > 0 then return {'TAKEN', taken} end

for _, o in ipairs(offs) do redis.call('SETRANGE', state, o, '1') end
redis.call('HINCRBY', meta, 'avail', -n)
redis.call('HINCRBY', meta, 'held', n)
redis.call('HINCRBY', users, user, n)
redis.call('HSET', holds, id, cjson.encode({z = zone, u = user, t = now, s = 'h', o = offs}))
return {'OK'}
