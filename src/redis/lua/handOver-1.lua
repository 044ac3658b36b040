-- Partitions handed on gracefully, with where their next holder may start: the offset below which
-- everything is finished (which a commit refused for a stale generation could not say). KEYS[1]:
-- the consumer group's hand-overs (a hash, one field per partition); ARGV[1]: time to live (ms);
-- ARGV[2..]: pairs of partition and value ('<owner>|<next offset>|<epoch ms>').
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
