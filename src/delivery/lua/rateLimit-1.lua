-- GCRA rate limit shared by every instance. KEYS[1]: theoretical arrival time (ms).
-- ARGV[1]: emission interval in ms (1000 / perSecond); ARGV[2]: burst size.
-- Returns 0 when the request may go now, else the milliseconds to wait before asking again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return math.ceil(allow_at - now)
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return 0
