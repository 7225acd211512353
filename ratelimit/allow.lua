-- KEYS[1]: one client's bucket. ARGV: interval ms (the period / count), period ms.
-- GCRA: the key holds the theoretical arrival time (TAT) in Redis's clock. A
-- request is allowed when the TAT, pushed one interval on, stays within one
-- period of now: a full bucket lets `count` through at once, then one per
-- interval. Returns 0 when allowed, else the milliseconds until it would be.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local next_tat = tat + interval
local wait = next_tat - period - now
if wait > 0 then
  return wait
end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
