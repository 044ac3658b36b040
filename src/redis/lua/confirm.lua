-- Confirms delivered marks once the delivery log has their attempt records: 'd<attempt>' becomes
-- 'D<attempt>' (a mark still 'd' when its event is read again means the record may have been lost
-- in a crash, and is written again).
-- KEYS: the destination's newest delivery buckets (a mark may be in yesterday's); ARGV: event ids.
for _, id in ipairs(ARGV) do
  for b = 1, #KEYS do
    local v = redis.call('HGET', KEYS[b], id)
    if v then
      if string.sub(v, 1, 1) == 'd' then redis.call('HSET', KEYS[b], id, 'D' .. string.sub(v, 2)) end
      break
    end
  end
end
return 1
