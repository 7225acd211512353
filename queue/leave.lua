-- Leave the line or end the shopping session.
-- KEYS: q, lobby, join, gone, pending, active, sess. ARGV: user.
-- Returns {was, session_id|false}: was is none, gone, lobby, waiting, pending or admitted.
local q, lobby, join, gone, pending, active, sess = unpack(KEYS)
local user = ARGV[1]

local jid = redis.call('HGET', join, user)
if not jid then return {'none', false} end
if redis.call('SISMEMBER', gone, user) == 1 then return {'gone', false} end
if (redis.call('HGET', q, 'state') or 'lobby') == 'lobby' then
  -- Before the opening a leaver simply was never there: out of the shuffle too.
  redis.call('HDEL', lobby, jid)
  redis.call('HDEL', join, user)
  return {'lobby', false}
end
redis.call('SADD', gone, user)
if redis.call('ZREM', pending, user) == 1 then return {'pending', false} end
if redis.call('ZREM', active, user) == 1 then
  local s = redis.call('HGET', sess, user) or ''
  redis.call('HDEL', sess, user)
  return {'admitted', string.match(s, '^(.*)|') or false}
end
return {'waiting', false}
