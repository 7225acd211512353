-- KEYS[1]: one account's failed sign-ins (see failed.lua). Returns the
-- milliseconds its lock has left, 0 when it is not locked.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until') or 0)
return math.max(until_ms - now, 0)
