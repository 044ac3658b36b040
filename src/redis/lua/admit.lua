-- Admits a batch of events for sending to one destination, in one round trip.
-- KEYS[1..n]: the destination's delivery buckets, newest first (one hash per day of the
-- idempotency window: event id → "<state><attempts>[|<partition>:<offsets>]", state D = delivered);
-- KEYS[n+i]: event i's in-flight lock. All keys of one destination share a hash slot.
-- ARGV[1]: owner token; ARGV[2]: lock ttl ms; ARGV[3]: n; then per event i: its id, and '1' to
-- ignore a delivered mark (forced replay).
-- Returns, per event, 0 = claimed (send it), -1 = delivered already (skip it), or m > 0 = another
-- sender holds it for m more ms.
local n = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS - n do
  local id, force = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local delivered = false
  if force ~= '1' then
    for b = 1, n do
      local v = redis.call('HGET', KEYS[b], id)
      if v then
        delivered = string.sub(v, 1, 1) == 'D'
        break
      end
    end
  end
  local lock = KEYS[n + i]
  if delivered then
    out[i] = -1
  elseif redis.call('SET', lock, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 0
  else
    out[i] = math.max(1, redis.call('PTTL', lock))
  end
end
return out
