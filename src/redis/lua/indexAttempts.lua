-- Records where attempt records are in the attempts topic, per (event, destination), in the
-- destination's delivery buckets: "<state><attempts>|<partition>:<offset>,<offset>…" (offsets in
-- base 36). The state of the latest attempt wins, except that delivered (D) stays delivered.
-- KEYS[1..n]: the delivery buckets of one destination, newest first.
-- ARGV[1]: n; ARGV[2]: when the newest bucket expires (epoch ms); then per record: event id,
-- state letter, attempt number, partition, offset (base 36).
local n = tonumber(ARGV[1])
local i = 3
while i <= #ARGV do
  local id, state, attempt, partition, offset = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local bucket, v = KEYS[1], nil
  for b = 1, n do
    v = redis.call('HGET', KEYS[b], id)
    if v then
      bucket = KEYS[b]
      break
    end
  end
  local oldState, oldAttempt, offsets = nil, 0, ''
  if v then
    oldState = string.sub(v, 1, 1)
    oldAttempt = tonumber(string.match(v, '^%a(%d+)')) or 0
    offsets = string.match(v, '^%a%d+|%d+:(.*)$') or ''
  end
  if oldState and (oldAttempt > attempt or oldState == 'D') then
    state = oldState
    if oldAttempt > attempt then attempt = oldAttempt end
  end
  -- Keep the locations of the last 24 records at most.
  if offsets ~= '' then
    offsets = offsets .. ',' .. offset
    local _, commas = string.gsub(offsets, ',', '')
    if commas >= 24 then offsets = string.match(offsets, '^[^,]*,(.*)$') end
  else
    offsets = offset
  end
  redis.call('HSET', bucket, id, state .. attempt .. '|' .. partition .. ':' .. offsets)
  if bucket == KEYS[1] then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
end
return 1
