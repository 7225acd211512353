-- Puts the tickets of a cancelled booking back on sale, once per booking: the
-- booking id goes into a set first, so a second call changes nothing, even one
-- that comes after a rebuild (the set survives rebuilds). Only tickets still
-- booked move: a drifted byte is never made available.
-- KEYS: loaded, users, cancelled (set of booking ids), zone meta, zone state, zone seats.
-- ARGV: format, booking_id, user, quantity (pool), seat ids... (seated).
-- Returns {'OK', tickets released}, {'OK', 0} when done before, {'NOT_LOADED'}, {'NO_ZONE'} or
-- {'WRONG_KIND'} (seats for a pool, or none for a seated zone).
local loaded, users, cancelled, meta, state, seats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local booking, user, q = ARGV[2], ARGV[3], tonumber(ARGV[4])

local isLoaded = redis.call('HGET', loaded, 'format') == ARGV[1]
local kind = isLoaded and redis.call('HGET', meta, 'kind')
if isLoaded and not kind then return {'NO_ZONE'} end
if isLoaded and (kind == 'seated') ~= (#ARGV > 4) then return {'WRONG_KIND'} end
if redis.call('SADD', cancelled, booking) == 0 then return {'OK', 0} end
-- Without the event in Redis the next rebuild reads the cancellation from the
-- database; the marker above still keeps a late retry from releasing twice.
if not isLoaded then return {'NOT_LOADED'} end

local n, size = 0, 0
if kind == 'seated' then
  for i = 5, #ARGV do
    local o = tonumber(redis.call('HGET', seats, ARGV[i]))
    if o and redis.call('GETRANGE', state, o, o) == '2' then
      redis.call('SETRANGE', state, o, '0')
      n = n + 1
    end
  end
  size = #ARGV - 4
else
  n = math.min(q, tonumber(redis.call('HGET', meta, 'booked') or '0'))
  size = q
end
redis.call('HINCRBY', meta, 'booked', -n)
redis.call('HINCRBY', meta, 'avail', n)
if redis.call('HINCRBY', users, user, -size) <= 0 then redis.call('HDEL', users, user) end
return {'OK', n}
