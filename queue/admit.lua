-- One admission step, safe to run from every replica at once: expire unclaimed
-- admissions and ended sessions, then admit the next fans while active + pending
-- stays under the cap (and the optional rate cap allows). Work is bounded by the
-- fans admitted or skipped, never by the length of the line.
-- KEYS: q, lobby, who, gone, seen, pending, active, sess, samples.
-- ARGV: now_ms, opens_ms, max_active, claim_ms, rate_per_s (0: none), presence_ms, max_scan,
-- sold_out (1: nothing on sale, or the organizer paused admissions, so nobody is admitted until
-- tickets come back or the pause ends).
-- Returns {state, adm, admitted users, dropped users, expired "user|session_id", rate*1000, adm before}.
local q, lobby, who, gone, seen, pending, active, sess, samples = unpack(KEYS)
local now, opens, max_active = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local claim_ms, rate, presence, max_scan = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])

local state = redis.call('HGET', q, 'state')
if not state then return {'empty', 0, {}, {}, {}, 0, 0} end
state = freeze_lobby(q, lobby, state, now, opens)
local adm = tonumber(redis.call('HGET', q, 'adm') or '0')
if state ~= 'open' then return {state, adm, {}, {}, {}, 0, adm} end
local before = adm

local dropped = redis.call('ZRANGE', pending, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
for _, u in ipairs(dropped) do
  redis.call('ZREM', pending, u)
  redis.call('SADD', gone, u)
end
local expired = {}
for _, u in ipairs(redis.call('ZRANGE', active, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)) do
  redis.call('ZREM', active, u)
  redis.call('SADD', gone, u)
  local s = redis.call('HGET', sess, u) or ''
  redis.call('HDEL', sess, u)
  expired[#expired + 1] = u .. '|' .. (string.match(s, '^(.*)|') or '')
end

local slots = max_active - redis.call('ZCARD', active) - redis.call('ZCARD', pending)
if ARGV[8] == '1' then slots = 0 end
local tokens
if rate > 0 then
  -- Token bucket holding at most one second of admissions.
  local t = tonumber(redis.call('HGET', q, 'bucket_t') or now)
  tokens = math.min(rate, tonumber(redis.call('HGET', q, 'bucket') or rate) + (now - t) * rate / 1000)
  slots = math.min(slots, math.floor(tokens))
end

local tail = tonumber(redis.call('HGET', q, 'tail') or '0')
local admitted, scanned = {}, 0
while slots > 0 and adm < tail and scanned < max_scan do
  adm = adm + 1
  scanned = scanned + 1
  local u = redis.call('HGET', who, adm)
  if u and redis.call('SISMEMBER', gone, u) == 0 then
    local last = tonumber(redis.call('ZSCORE', seen, u) or '0')
    if last < now - presence then
      redis.call('SADD', gone, u) -- away too long: the place is skipped
    else
      redis.call('ZADD', pending, now + claim_ms, u)
      admitted[#admitted + 1] = u
      slots = slots - 1
    end
  end
end
redis.call('HSET', q, 'adm', adm)
if rate > 0 then
  redis.call('HSET', q, 'bucket', tokens - #admitted, 'bucket_t', now)
end

-- The admission rate over the last minute, from one sample a second.
local newest = redis.call('LINDEX', samples, 0)
if not newest or now - tonumber(string.match(newest, '^(%d+)')) >= 1000 then
  redis.call('LPUSH', samples, now .. ':' .. adm)
  redis.call('LTRIM', samples, 0, 60)
end
local oldest = redis.call('LINDEX', samples, -1)
local per_s = 0
if oldest then
  local t0, a0 = string.match(oldest, '^(%d+):(%d+)$')
  if now - tonumber(t0) >= 1000 then
    per_s = (adm - tonumber(a0)) * 1000000 / (now - tonumber(t0))
  end
end
return {state, adm, admitted, dropped, expired, math.floor(per_s), before}
