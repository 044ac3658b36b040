-- Writes a holder's mark on one partition (see policy/crashLoop.ts) and keeps the marks' hash for
-- a month after its last write. KEYS[1]: the consumer group's marks (a hash, one field per
-- partition); ARGV[1]: the partition; ARGV[2]: the mark; ARGV[3]: time to live (ms).
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
