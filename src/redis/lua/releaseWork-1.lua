-- Takes a holder's marks away from the partitions it hands on gracefully: only the marks it wrote
-- (compare-and-delete), never the next holder's. KEYS[1]: the consumer group's marks; ARGV[1]: the
-- holder's token; ARGV[2..]: the partitions. Returns how many marks were taken away.
local released = 0
local prefix = ARGV[1] .. '|'
for i = 2, #ARGV do
  local mark = redis.call('HGET', KEYS[1], ARGV[i])
  if mark and string.sub(mark, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[1], ARGV[i])
    released = released + 1
  end
end
return released
