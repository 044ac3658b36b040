-- Claims an event for sending to one destination. KEYS[1]: delivered key; KEYS[2]: in-flight lock.
-- ARGV[1]: owner token; ARGV[2]: lock ttl ms; ARGV[3]: '1' to ignore the delivered mark (forced replay).
-- Returns 'delivered' (already delivered: skip), 'claimed' (send it), or 'locked' (another sender
-- holds it right now), with the lock's remaining ttl.
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return {'delivered', 0}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'claimed', 0}
end
return {'locked', redis.call('PTTL', KEYS[2])}
