-- Write a batch of shuffled lobby places; with ARGV[1] == '1', also open the line.
-- KEYS: q, num, who. ARGV: final, then user, number pairs.
-- Re-running with the same pairs is harmless, so a replica that dies mid-shuffle
-- is simply replaced by another.
local q, num, who = unpack(KEYS)
if redis.call('HGET', q, 'state') ~= 'shuffling' then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HSET', num, ARGV[i], ARGV[i + 1])
  redis.call('HSET', who, ARGV[i + 1], ARGV[i])
end
if ARGV[1] == '1' then redis.call('HSET', q, 'state', 'open') end
return 1
