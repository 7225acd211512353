-- KEYS[1]: one account's failed sign-ins, a hash {fails, until}. ARGV: free
-- failures, first lock ms, longest lock ms, ms after the last failure to forget.
-- Counts a failure; from the free-th on, locks the account for first·2^(fails−free),
-- at most the longest. Returns the lock in ms (0 for none).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, first, longest, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local lock = 0
if fails >= free then
  lock = math.min(first * 2 ^ math.min(fails - free, 40), longest)
  redis.call('HSET', KEYS[1], 'until', now + lock)
end
redis.call('PEXPIRE', KEYS[1], math.max(forget, lock))
return lock
