-- Prepended to each hold script when it is built (see hold.go): the checks every
-- hold makes in the same atomic step as taking the tickets, so none can go stale,
-- and take(), which records a hold.
-- KEYS[1..6]: loaded, active (the waiting room's sessions), users, holds,
-- unconfirmed (zset hold id -> decision ms), zone meta. More from KEYS[7] on.
-- ARGV[1..6]: format, now_ms, user, hold_id, max_per_user (<= 0: no cap), zone_id.
-- More from ARGV[7] on. Refusals are {code, details}.
local loaded, active, users, holds, unconfirmed, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, user, id, max, zone = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]

-- refusal checks everything but the tickets themselves for a hold of n tickets
-- in a zone of the given kind; nil means go ahead.
local function refusal(kind, n)
  if redis.call('HGET', loaded, 'format') ~= ARGV[1] then return {'NOT_LOADED'} end
  local k = redis.call('HGET', meta, 'kind')
  if not k then return {'NO_ZONE'} end
  if k ~= kind then return {'WRONG_KIND'} end
  local exp = tonumber(redis.call('ZSCORE', active, user))
  if not exp or exp <= now then return {'NOT_ADMITTED'} end
  if redis.call('HEXISTS', holds, id) == 1 then return {'EXISTS'} end
  local have = tonumber(redis.call('HGET', users, user) or '0')
  if max > 0 and have + n > max then return {'LIMIT', have} end
  return nil
end

-- take records a hold of n tickets (offs: seat offsets, or nil for a pool):
-- counters, the fan's count, the hold and its wait for the database's word.
local function take(n, offs)
  redis.call('HINCRBY', meta, 'avail', -n)
  redis.call('HINCRBY', meta, 'held', n)
  redis.call('HINCRBY', users, user, n)
  local rec = {z = zone, u = user, t = now, s = 'h'}
  if offs then rec.o = offs else rec.q = n end
  redis.call('HSET', holds, id, cjson.encode(rec))
  redis.call('ZADD', unconfirmed, now, id)
end
