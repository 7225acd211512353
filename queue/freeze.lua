-- Prepended to join.lua and admit.lua. At the opening second the lobby is frozen
-- (its size becomes the tail of the line) and the shuffle numbers it; an empty
-- lobby opens the line at once. Returns the line's state after the check.
local function freeze_lobby(q, lobby, state, now, opens)
  if now >= opens and state == 'lobby' then
    local n = redis.call('HLEN', lobby)
    redis.call('HSET', q, 'lobby_n', n, 'tail', n)
    state = n > 0 and 'shuffling' or 'open'
    redis.call('HSET', q, 'state', state)
  end
  return state
end

