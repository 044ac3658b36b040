-- GCRA rate limit shared by every instance, handing out permits in blocks.
-- KEYS[1]: theoretical arrival time (ms). ARGV[1]: emission interval in ms (1000 / perSecond);
-- ARGV[2]: burst size; ARGV[3]: how many permits the caller wants now.
-- Returns {granted, waitMs}: the permits granted now (0..wanted; the caller spends them at once)
-- and, when fewer than wanted were available, the ms until the next one is.
-- Over any window of T ms at most burst + T / interval permits are granted, across all callers.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
local available = math.floor((now - allow_at) / interval) + 1
local granted = math.min(wanted, available)
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
local wait = 0
if granted < wanted then wait = math.max(1, math.ceil(new_tat - tolerance - now)) end
return {granted, wait}
