-- Pauses a destination until a time (Retry-After), never shortening a longer pause.
-- KEYS[1]: backoff key. ARGV[1]: until (epoch ms).
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
  return 1
end
return 0
