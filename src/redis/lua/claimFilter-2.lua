-- Claims room for event ids in the attempt log's newest Bloom filter of one partition, starting a
-- new filter when the newest is full or older than a rotation; forgets filters past the
-- retention. The caller then sets the ids' bits in the returned filter (one BITFIELD call): kept
-- out of the script, whose per-bit work cost about 18 µs of Redis per id.
-- KEYS[1]: sorted set of the partition's filters (member = score = start, epoch ms);
-- KEYS[2]: hash of their sizes: '<start>:m' bits, '<start>:n' ids added, '<start>:last' latest add.
-- ARGV[1]: the filters' bitmap key prefix (bitmap = prefix .. start; same hash slot as KEYS);
-- ARGV[2]: now (ms); ARGV[3]: rotate after (ms); ARGV[4]: keep (ms, the attempt log's retention);
-- ARGV[5]: how many ids.
-- A new filter is sized for what the last one saw over a full rotation, at 20 bits per id
-- (10 bits set per id: false positives about 1 in 10,000), between 4 Ki and 512 Ki bits.
-- Returns {start, bits} of the filter to write to.
local BITS_PER_ID, MIN_BITS, MAX_BITS = 20, 4096, 524288
local filters, meta, prefix = KEYS[1], KEYS[2], ARGV[1]
local now, rotate, keep, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local start, bits, count
local newest = redis.call('ZREVRANGE', filters, 0, 0)[1]
if newest then
  start = tonumber(newest)
  bits = tonumber(redis.call('HGET', meta, start .. ':m') or '0')
  count = tonumber(redis.call('HGET', meta, start .. ':n') or '0')
end
if not start or bits == 0 or count + n > bits / BITS_PER_ID or now - start >= rotate then
  local want = 65536
  if start and bits > 0 then
    local elapsed = math.max(1, now - start)
    want = (count + n) * math.max(1, rotate / elapsed) * BITS_PER_ID * 1.5
  end
  want = math.max(want, n * BITS_PER_ID * 1.5)
  local m = MIN_BITS
  while m < want and m < MAX_BITS do m = m * 2 end
  local nextStart = now
  if start and nextStart <= start then nextStart = start + 1 end
  start, bits, count = nextStart, m, 0
  redis.call('ZADD', filters, start, start)
  redis.call('HSET', meta, start .. ':m', bits)
  -- Allocated whole at once: grown bit by bit, Redis would reserve about twice the size.
  redis.call('SET', prefix .. start, string.rep('\0', bits / 8), 'PX', keep)
end
redis.call('HSET', meta, start .. ':n', count + n, start .. ':last', now)
local old = redis.call('ZRANGEBYSCORE', filters, '-inf', now - keep)
for _, s in ipairs(old) do
  redis.call('HDEL', meta, s .. ':m', s .. ':n', s .. ':last')
end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', filters, '-inf', now - keep) end
redis.call('PEXPIRE', filters, keep)
redis.call('PEXPIRE', meta, keep)
return {start, bits}
