-- Holds the best q adjacent seats of a seated zone in one row: rows nearest the
-- stage first, and never a choice that leaves a lone available seat (between
-- taken seats or at a row's end) while another choice leaves none; failing that,
-- the first fit. Never splits the party. One GET reads the whole zone.
-- KEYS: loaded, active, users, holds, zone meta, zone state, zone ids (offset -> seat id).
-- ARGV: format, now_ms, user, hold_id, max_per_user (<= 0: no cap), zone_id, quantity.
-- Returns {'OK', seat ids} or {error code, details}.
local loaded, active, users, holds, meta, state, ids =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now, user, id, max, zone, q =
  tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])

if redis.call('HGET', loaded, 'format') ~= ARGV[1] then return {'NOT_LOADED'} end
local kind = redis.call('HGET', meta, 'kind')
if not kind then return {'NO_ZONE'} end
if kind ~= 'seated' then return {'WRONG_KIND'} end
local exp = tonumber(redis.call('ZSCORE', active, user))
if not exp or exp <= now then return {'NOT_ADMITTED'} end
if redis.call('HEXISTS', holds, id) == 1 then return {'EXISTS'} end
local have = tonumber(redis.call('HGET', users, user) or '0')
if max > 0 and have + q > max then return {'LIMIT', have} end
local avail = tonumber(redis.call('HGET', meta, 'avail'))
if avail < q then return {'NOT_ENOUGH', avail} end

-- Within a run of L available seats, q seats flush left leave L - q free on the
-- right: none (L == q) or two and more (L >= q + 2) strand nobody, while
-- L == q + 1 strands one seat wherever the q go.
local st = redis.call('GET', state)
local best, fallback
for off, len in string.gmatch(redis.call('HGET', meta, 'rows'), '(%d+):(%d+)') do
  off, len = tonumber(off), tonumber(len)
  for a, b in string.gmatch(string.sub(st, off + 1, off + len), '()0+()') do
    local l = b - a
    if l == q or l >= q + 2 then
      best = off + a - 1
      break
    end
    if l == q + 1 and not fallback then fallback = off + a - 1 end
  end
  if best then break end
end
local start = best or fallback
if not start then return {'NOT_TOGETHER', avail} end

local offs, seats = {}, {}
for o = start, start + q - 1 do
  redis.call('SETRANGE', state, o, '1')
  offs[#offs + 1] = o
  seats[#seats + 1] = redis.call('HGET', ids, o)
end
redis.call('HINCRBY', meta, 'avail', -q)
redis.call('HINCRBY', meta, 'held', q)
redis.call('HINCRBY', users, user, q)
redis.call('HSET', holds, id, cjson.encode({z = zone, u = user, t = now, s = 'h', o = offs}))
return {'OK', seats}
