-- Join the line, once per fan.
-- KEYS: q, lobby, join, num, who, gone, seen.
-- ARGV: user, now_ms, opens_ms, new_join_id, seed, commit.
-- Before the opening the fan waits in the lobby (no number yet); after it, the fan
-- takes the next number behind everyone. Returns {'new'|'joined', join_id, number|false}.
local q, lobby, join, num, who, gone, seen = unpack(KEYS)
local user, now, opens = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

-- The commitment to the shuffle's seed exists from the first join on.
redis.call('HSETNX', q, 'seed', ARGV[5])
redis.call('HSETNX', q, 'commit', ARGV[6])
local state = redis.call('HGET', q, 'state')
if not state then
  state = 'lobby'
  redis.call('HSET', q, 'state', state, 'tail', 0, 'adm', 0)
end
state = freeze_lobby(q, lobby, state, now, opens)

local jid = redis.call('HGET', join, user)
if jid and redis.call('SISMEMBER', gone, user) == 0 then
  redis.call('ZADD', seen, now, user)
  return {'joined', jid, redis.call('HGET', num, user)}
end
if jid then
  -- Back after leaving: the old place stays empty and is skipped.
  local old = redis.call('HGET', num, user)
  if old then redis.call('HDEL', who, old) end
  redis.call('HDEL', num, user)
  redis.call('SREM', gone, user)
end
jid = ARGV[4]
redis.call('HSET', join, user, jid)
redis.call('ZADD', seen, now, user)
if state == 'lobby' then
  redis.call('HSET', lobby, jid, user)
  return {'new', jid, false}
end
local n = redis.call('HINCRBY', q, 'tail', 1)
redis.call('HSET', num, user, n)
redis.call('HSET', who, n, user)
return {'new', jid, n}
