-- Puts the tickets of a cancelled booking in one zone back on sale, once: the
-- booking and zone go into a set first, so a second call changes nothing, even
-- one that comes after a rebuild (the set survives rebuilds, and a rebuild adds
-- the cancellations its snapshot already shows). Only tickets still booked
-- move: a drifted byte is never made available.
-- KEYS: loaded, users, cancelled (set of "booking zone"), zone meta, zone state, zone seats.
-- ARGV: format, booking_id, user, zone_id, quantity (pool), seat ids... (seated).
-- Returns {'OK', tickets released}, {'OK', 0} when done before, {'NOT_LOADED'}, {'NO_ZONE'} or
-- {'WRONG_KIND'} (seats for a pool, or none for a seated zone).
local loaded, users, cancelled, meta, state, seats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local booking, user, zone, q = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local isLoaded = redis.call('HGET', loaded, 'format') == ARGV[1]
local kind = isLoaded and redis.call('HGET', meta, 'kind')
if isLoaded and not kind then return {'NO_ZONE'} end
if isLoaded and (kind == 'seated') ~= (#ARGV > 5) then return {'WRONG_KIND'} end
if redis.call('SADD', cancelled, booking .. ' ' .. zone) == 0 then return {'OK', 0} end
-- Without the event in Redis the next rebuild reads the cancellation from the
-- database; the marker above still keeps a late retry from releasing twice.
if not isLoaded then return {'NOT_LOADED'} end

local n, size = 0, 0
if kind == 'seated' then
  for i = 6, #ARGV do
    local o = tonumber(redis.call('HGET', seats, ARGV[i]))
    if o and redis.call('GETRANGE', state, o, o) == '2' then
      redis.call('SETRANGE', state, o, '0')
      n = n + 1
    end
  end
  size = #ARGV - 5
else
  n = math.min(q, tonumber(redis.call('HGET', meta, 'booked') or '0'))
  size = q
end
-- 0 - n, not -n: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.
redis.call('HINCRBY', meta, 'booked', 0 - n)
redis.call('HINCRBY', meta, 'avail', n)
if redis.call('HINCRBY', users, user, 0 - size) <= 0 then redis.call('HDEL', users, user) end
return {'OK', n}
