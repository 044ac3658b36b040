-- Completes a batch of attempts of one destination in one round trip: marks the delivered ones
-- in the delivery buckets and drops every in-flight lock we still own. The mark is written 'd'
-- (delivered, its attempt record not yet confirmed written); confirm.lua makes it 'D' once the
-- delivery log has the record.
-- KEYS[1..n]: the delivery buckets, newest first (see admit.lua); KEYS[n+i]: event i's lock.
-- ARGV[1]: unused; ARGV[2]: n; ARGV[3]: when the newest bucket expires (epoch ms); then per
-- event i: its id, the attempt that delivered it ('' when it was not delivered: the lock is only
-- released), and the claim's token (the lock is dropped only if it is still that claim's).
local n = tonumber(ARGV[2])
for i = 1, #KEYS - n do
  local id, attempt, token = ARGV[1 + 3 * i], ARGV[2 + 3 * i], ARGV[3 + 3 * i]
  if attempt ~= '' then
    -- Update the entry where it is (an event whose attempts span midnight), else today's bucket.
    local bucket, v = KEYS[1], nil
    for b = 1, n do
      v = redis.call('HGET', KEYS[b], id)
      if v then
        bucket = KEYS[b]
        break
      end
    end
    local suffix = v and string.match(v, '|.*$') or ''
    local before = v and tonumber(string.match(v, '^%a(%d+)')) or 0
    redis.call('HSET', bucket, id, 'd' .. math.max(before, tonumber(attempt)) .. suffix)
    if bucket == KEYS[1] then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
  end
  local lock = KEYS[n + i]
  if redis.call('GET', lock) == token then
    redis.call('DEL', lock)
  end
end
return 1
