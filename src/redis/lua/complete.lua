-- Completes a batch of attempts of one destination in one round trip: marks the delivered ones
-- (kept for the idempotency window) and drops every in-flight lock we still own.
-- KEYS: for each event i, KEYS[2i-1] its delivered mark and KEYS[2i] its in-flight lock.
-- ARGV[1]: owner token; ARGV[2]: delivered ttl ms; ARGV[2+i]: the value to keep for event i when
-- it was delivered (the delivery time), or '' when it was not (the lock is only released).
local n = #KEYS / 2
for i = 1, n do
  local delivered, lock = KEYS[2 * i - 1], KEYS[2 * i]
  if ARGV[2 + i] ~= '' then
    redis.call('SET', delivered, ARGV[2 + i], 'PX', ARGV[2])
  end
  if redis.call('GET', lock) == ARGV[1] then
    redis.call('DEL', lock)
  end
end
return n
