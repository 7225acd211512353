-- Holds every seat asked for, or none.
-- KEYS[7..8]: zone state, zone seats (seat id -> offset). ARGV[7..]: seat ids.
-- Returns {'OK'} or {code, details}.
local state, seats = KEYS[7], KEYS[8]

local ids, offs, unknown = {}, {}, {}
for i = 7, #ARGV do
  local o = redis.call('HGET', seats, ARGV[i])
  if o then
    ids[#ids + 1], offs[#offs + 1] = ARGV[i], tonumber(o)
  else
    unknown[#unknown + 1] = ARGV[i]
  end
end
local refused = refusal('seated', #offs)
if refused then return refused end
if #unknown > 0 then return {'UNKNOWN', unknown} end

local taken = {}
for i, o in ipairs(offs) do
  if redis.call('GETRANGE', state, o, o) ~= '0' then taken[#taken + 1] = ids[i] end
end
if #taken > 0 then return {'TAKEN', taken} end

for _, o in ipairs(offs) do redis.call('SETRANGE', state, o, '1') end
take(#offs, offs)
return {'OK'}
