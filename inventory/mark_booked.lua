-- Turns a hold's tickets from held to booked, after PostgreSQL booked them. The
-- fan's count does not change: it counts held and booked tickets alike.
-- Idempotent: a hold booked or released already, or unknown, changes nothing.
-- KEYS: users (unused, kept so every hold-ending script takes the same keys),
-- holds, ended (zset hold -> end ms), zone meta, zone state.
-- ARGV: hold_id, zone_id, now_ms, keep_ms.
-- Returns {'OK', tickets booked} or {'RETRY'} when the hold is not in that zone.
local holds, ended, meta, state = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, zone, now, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

local raw = redis.call('HGET', holds, id)
if not raw then return {'OK', 0} end
local h = cjson.decode(raw)
if h.z ~= zone then return {'RETRY'} end
if h.s ~= 'h' then return {'OK', 0} end

local n, size = 0, 0
if h.o then
  for _, o in ipairs(h.o) do
    if redis.call('GETRANGE', state, o, o) == '1' then
      redis.call('SETRANGE', state, o, '2')
      n = n + 1
    end
  end
  size = #h.o
else
  n = math.min(h.q, tonumber(redis.call('HGET', meta, 'held') or '0'))
  size = h.q
end
redis.call('HINCRBY', meta, 'held', -n)
redis.call('HINCRBY', meta, 'booked', n)

h.s, h.e = 'b', now
redis.call('HSET', holds, id, cjson.encode(h))
redis.call('ZADD', ended, now, id)
for _, old in ipairs(redis.call('ZRANGEBYSCORE', ended, '-inf', now - keep, 'LIMIT', 0, 16)) do
  redis.call('HDEL', holds, old)
  redis.call('ZREM', ended, old)
end
return {'OK', size}
