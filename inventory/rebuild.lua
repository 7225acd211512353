-- Replaces an event's inventory with the database's state in one atomic step,
-- then replays on top of it what Redis decided around the time the database was
-- read, so holds in flight are not lost:
--   * a hold decided here since `since` that the snapshot lacks (its database
--     write may still be running) is kept if its tickets are free in the snapshot;
--   * a hold the snapshot shows active but that Redis has released or booked
--     since is released or booked again (Redis hears of an end only after the
--     database committed it, so the snapshot was read before that);
--   * a hold booked at or after the read that the snapshot lacks is booked.
-- Seat maps were staged under temporary keys beforehand and are renamed in, so
-- this step stays short. A snapshot older than the one loaded changes nothing.
-- The set of cancelled bookings keeps its members and gains the cancellations
-- the snapshot shows, so a cancellation's own release that comes after this
-- rebuild changes nothing: the snapshot has its tickets on sale already.
-- KEYS: loaded, holds, users, cancelled, then per zone: meta, state, seats, ids, staged seats, staged ids.
-- ARGV: format, taken_ms, since_ms, now_ms, payload JSON
--   {zones: [{id, kind, rows, state, avail, held, booked}], holds: {id: {z, u, o | q}}, users: {user: n},
--    cancelled: ["booking zone", ...]}.
-- Returns {'OK', holds kept or replayed, holds dropped}, {'STALE', 0, 0} or {'STAGING_LOST', 0, 0}.
local loaded, holds, users, cancelled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local format, taken, since, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local p = cjson.decode(ARGV[5])

local prev = redis.call('HMGET', loaded, 'format', 'taken')
local same = prev[1] == format
if same and tonumber(prev[2]) and tonumber(prev[2]) > taken then return {'STALE', 0, 0} end
-- Check before writing anything: a script that fails halfway keeps its writes.
for i, z in ipairs(p.zones) do
  local b = 4 + (i - 1) * 6
  if z.kind == 'seated' and (redis.call('EXISTS', KEYS[b + 5]) == 0 or redis.call('EXISTS', KEYS[b + 6]) == 0) then
    return {'STAGING_LOST', 0, 0}
  end
end

local recent = {}
if same then
  local all = redis.call('HGETALL', holds)
  for i = 1, #all, 2 do
    local h = cjson.decode(all[i + 1])
    if h.t >= since or (h.e and h.e >= since) then recent[all[i]] = h end
  end
end

local zones, names = {}, {}
for i, z in ipairs(p.zones) do
  local b = 4 + (i - 1) * 6
  local meta, state, seats, ids = KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4]
  redis.call('UNLINK', meta, state, seats, ids) -- UNLINK: large maps are freed off the main thread
  if z.kind == 'seated' then
    redis.call('RENAME', KEYS[b + 5], seats)
    redis.call('RENAME', KEYS[b + 6], ids)
    redis.call('PERSIST', seats) -- staged keys expire in case a rebuild dies; live ones must not
    redis.call('PERSIST', ids)
    redis.call('SET', state, z.state)
  end
  redis.call('HSET', meta, 'kind', z.kind, 'rows', z.rows, 'avail', z.avail, 'held', z.held, 'booked', z.booked)
  zones[z.id] = {meta = meta, state = state, kind = z.kind}
  names[i] = z.id
end

redis.call('UNLINK', users)
for u, n in pairs(p.users) do redis.call('HSET', users, u, n) end
for _, c in ipairs(p.cancelled) do redis.call('SADD', cancelled, c) end

local field = {['0'] = 'avail', ['1'] = 'held', ['2'] = 'booked'}
local function size(h)
  if h.o then return #h.o end
  return h.q
end
local function count(u, n)
  if redis.call('HINCRBY', users, u, n) <= 0 then redis.call('HDEL', users, u) end
end
-- fits: are all of the hold's tickets available in the new state?
local function fits(z, h)
  if not z or (h.o ~= nil) ~= (z.kind == 'seated') then return false end
  if h.o then
    for _, o in ipairs(h.o) do
      if redis.call('GETRANGE', z.state, o, o) ~= '0' then return false end
    end
    return true
  end
  return tonumber(redis.call('HGET', z.meta, 'avail')) >= h.q
end
local function move(z, h, from, to)
  local n = 0
  if h.o then
    for _, o in ipairs(h.o) do
      if redis.call('GETRANGE', z.state, o, o) == from then
        redis.call('SETRANGE', z.state, o, to)
        n = n + 1
      end
    end
  else
    n = math.min(h.q, tonumber(redis.call('HGET', z.meta, field[from])))
  end
  -- 0 - n, not -n: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.
  redis.call('HINCRBY', z.meta, field[from], 0 - n)
  redis.call('HINCRBY', z.meta, field[to], n)
end

redis.call('UNLINK', holds)
for id, s in pairs(p.holds) do
  local r, z = recent[id], zones[s.z]
  recent[id] = nil
  -- t = 0: the database has seen this hold, so a later snapshot without it means it ended.
  local rec = {z = s.z, u = s.u, t = 0, s = 'h', o = s.o, q = s.q}
  if r and r.s == 'r' then
    move(z, s, '1', '0')
    count(s.u, 0 - size(s))
    rec = r
  elseif r and r.s == 'b' then
    move(z, s, '1', '2')
    rec = r
  end
  redis.call('HSET', holds, id, cjson.encode(rec))
end

local kept, dropped = 0, 0
for id, r in pairs(recent) do
  local z = zones[r.z]
  if r.s == 'h' then
    if fits(z, r) then
      move(z, r, '0', '1')
      count(r.u, size(r))
      redis.call('HSET', holds, id, cjson.encode(r))
      kept = kept + 1
    else
      dropped = dropped + 1 -- its database write cannot succeed either
    end
  else
    -- Booked at or after the read: the snapshot may predate the booking. Before
    -- the read, the snapshot has it (or what came after it) already.
    if r.s == 'b' and r.e >= taken and fits(z, r) then
      move(z, r, '0', '2')
      count(r.u, size(r))
      kept = kept + 1
    end
    redis.call('HSET', holds, id, cjson.encode(r)) -- keeps a repeated release or booking a no-op
  end
end

redis.call('UNLINK', loaded)
redis.call('HSET', loaded, 'format', format, 'zones', cjson.encode(names), 'taken', taken, 'at', now)
return {'OK', kept, dropped}
