-- A fan's place now; also a sign of life, and the claim of an admission.
-- KEYS: q, join, num, gone, seen, pending, active, sess, samples.
-- ARGV: user, now_ms, hold_ms, new_session_id.
-- Returns {status, join_id, number|false, adm, session_id|false, session_expiry_ms|false, state,
-- newest rate sample|false, oldest rate sample|false} (samples only for a waiting fan).
local q, join, num, gone, seen, pending, active, sess, samples = unpack(KEYS)
local user, now = ARGV[1], tonumber(ARGV[2])

local jid = redis.call('HGET', join, user)
if not jid then return {'none'} end
local state = redis.call('HGET', q, 'state') or 'lobby'
local adm = tonumber(redis.call('HGET', q, 'adm') or '0')
local n = redis.call('HGET', num, user)
if redis.call('SISMEMBER', gone, user) == 1 then return {'gone', jid, n, adm, false, false, state} end
redis.call('ZADD', seen, now, user)

if redis.call('ZSCORE', pending, user) then
  redis.call('ZREM', pending, user)
  local exp = now + tonumber(ARGV[3])
  redis.call('ZADD', active, exp, user)
  redis.call('HSET', sess, user, ARGV[4] .. '|' .. exp)
  return {'admitted', jid, n, adm, ARGV[4], exp, state}
end
local s = redis.call('HGET', sess, user)
if s and redis.call('ZSCORE', active, user) then
  local id, exp = string.match(s, '^(.*)|(%d+)$')
  return {'admitted', jid, n, adm, id, tonumber(exp), state}
end
if not n then return {'lobby', jid, false, adm, false, false, state} end
-- The rate samples come along, so the ETA costs no second round trip.
return {'waiting', jid, n, adm, false, false, state,
  redis.call('LINDEX', samples, 0), redis.call('LINDEX', samples, -1)}
