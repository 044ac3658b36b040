-- Marks an event delivered to a destination and drops our in-flight lock.
-- KEYS[1]: delivered key; KEYS[2]: in-flight lock. ARGV[1]: owner token; ARGV[2]: delivered ttl ms;
-- ARGV[3]: the value to keep (delivery time).
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
