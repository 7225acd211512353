-- Holds the best q adjacent seats of a seated zone in one row: rows nearest the
-- stage first, and never a choice that leaves a lone available seat (between
-- taken seats or at a row's end) while another choice leaves none; failing that,
-- the first fit. Never splits the party. One GET reads the whole zone.
-- KEYS[7..8]: zone state, zone ids (offset -> seat id). ARGV[7]: quantity.
-- Returns {'OK', seat ids} or {code, details}.
local state, ids = KEYS[7], KEYS[8]
local q = tonumber(ARGV[7])

local refused = refusal('seated', q)
if refused then return refused end
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
take(q, offs)
return {'OK', seats}
