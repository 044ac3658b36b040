-- Admits a batch of events for sending to one destination, in one round trip.
-- KEYS: for each event i, KEYS[2i-1] its delivered mark and KEYS[2i] its in-flight lock
-- (all of one destination: one hash slot).
-- ARGV[1]: owner token; ARGV[2]: lock ttl ms; ARGV[2+i]: '1' to ignore event i's delivered mark
-- (forced replay).
-- Returns, per event, 0 = claimed (send it), -1 = delivered already (skip it), or n > 0 = another
-- sender holds it for n more ms.
local out = {}
local n = #KEYS / 2
for i = 1, n do
  local delivered, lock = KEYS[2 * i - 1], KEYS[2 * i]
  if ARGV[2 + i] ~= '1' and redis.call('EXISTS', delivered) == 1 then
    out[i] = -1
  elseif redis.call('SET', lock, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 0
  else
    out[i] = math.max(1, redis.call('PTTL', lock))
  end
end
return out
