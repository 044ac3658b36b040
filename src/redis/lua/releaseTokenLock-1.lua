-- Releases the token-refresh lock of a destination only if we still own it (compare-and-delete).
-- KEYS[1]: lock key; ARGV[1]: owner token. Returns 1 when released, 0 when someone else owns it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
