-- Holds a quantity from a pool zone, all or nothing. Pool tickets are counters
-- here (the database picks the concrete tickets), so this is O(1) however large
-- the pool.
-- ARGV[7]: quantity. Returns {'OK'} or {code, details}.
local q = tonumber(ARGV[7])

local refused = refusal('pool', q)
if refused then return refused end
local avail = tonumber(redis.call('HGET', meta, 'avail'))
if avail < q then return {'NOT_ENOUGH', avail} end

take(q)
return {'OK'}
