-- Ends a hold: 'release' puts its tickets back on sale and lowers the fan's
-- count; 'book' turns them from held to booked after PostgreSQL booked them (the
-- fan's count stays: it counts held and booked tickets alike). Idempotent: a
-- hold ended already, or unknown, changes nothing. The record stays, marked
-- ended, for a while: a repeated call stays a no-op, and a rebuild from a
-- snapshot read before the end can tell the end is newer.
-- KEYS: users, holds, ended (zset hold -> end ms), unconfirmed, zone meta, zone state.
-- ARGV: hold_id, zone_id, now_ms, keep_ms, 'release' | 'book'.
-- Returns {'OK', tickets} or {'RETRY'} when the hold is not in that zone.
local users, holds, ended, unconfirmed, meta, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, zone, now, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local book = ARGV[5] == 'book'

local raw = redis.call('HGET', holds, id)
-- The database has spoken of it (only then is a hold ended), so it is no
-- phantom: stop watching it.
redis.call('ZREM', unconfirmed, id)
if not raw then return {'OK', 0} end
local h = cjson.decode(raw)
if h.z ~= zone then return {'RETRY'} end
if h.s ~= 'h' then return {'OK', 0} end

-- Only tickets still held move, so a drifted byte is never made available.
local byte = book and '2' or '0'
local n, size = 0, 0
if h.o then
  for _, o in ipairs(h.o) do
    if redis.call('GETRANGE', state, o, o) == '1' then
      redis.call('SETRANGE', state, o, byte)
      n = n + 1
    end
  end
  size = #h.o
else
  n = math.min(h.q, tonumber(redis.call('HGET', meta, 'held') or '0'))
  size = h.q
end
-- 0 - n, not -n: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.
redis.call('HINCRBY', meta, 'held', 0 - n)
if book then
  redis.call('HINCRBY', meta, 'booked', n)
  h.s = 'b'
else
  redis.call('HINCRBY', meta, 'avail', n)
  if redis.call('HINCRBY', users, h.u, 0 - size) <= 0 then redis.call('HDEL', users, h.u) end
  h.s = 'r'
end

h.e = now
redis.call('HSET', holds, id, cjson.encode(h))
redis.call('ZADD', ended, now, id)
-- Forget a few long-ended holds each time: the cost stays O(1) per call.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', ended, '-inf', now - keep, 'LIMIT', 0, 16)) do
  redis.call('HDEL', holds, old)
  redis.call('ZREM', ended, old)
end
return {'OK', size}
