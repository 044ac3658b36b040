-- uses _marks.lua
-- Admits a batch of events for sending to one destination, in one round trip.
-- KEYS[1..n]: the destination's delivery days, newest first (base names, see _marks.lua);
-- KEYS[n+i]: event i's in-flight lock; KEYS[n+m+i] (m events): a hash of how many of its claims
-- never completed (`n`: a process died holding it) and the last claim's token (`t`). All keys of
-- one destination share a hash slot.
-- ARGV[1]: claims left uncompleted before a fresh claim is refused as a crash loop; ARGV[2]: lock
-- ttl ms; ARGV[3]: n; then per event i: its id, its mark field,
-- '1' to ignore a delivered mark (forced replay), and the claim's token (one per message being
-- sent: a claim renewed with its own token is extended; any other token finds the event locked).
-- Returns, per event, 0 = claimed (send it), -1 - a = delivered already by attempt a (skip it; a
-- is 0 when the mark does not say), minus another 2^20 when that delivery's attempt record was not
-- yet confirmed written (mark 'd', not 'D') and the mark does not say by whom, 'u<a>~<owner>' =
-- delivered by attempt a by process `owner`, its record not yet confirmed, m > 0 = another sender
-- holds it for m more ms, or 'c<k>' = claimed, but k earlier claims never completed: move it aside
-- (a crash loop).
local n = tonumber(ARGV[3])
local m = (#KEYS - n) / 2
local crashes = tonumber(ARGV[1])
local bases = {}
for b = 1, n do bases[b] = KEYS[b] end
local out = {}
for i = 1, m do
  local id, field, force, token = ARGV[4 * i], ARGV[1 + 4 * i], ARGV[2 + 4 * i], ARGV[3 + 4 * i]
  local delivered = false
  local owner = nil
  local by = 0
  local unconfirmed = 0
  if force ~= '1' then
    local _, _, v = findMark(bases, id, field)
    if v then
      local state = string.sub(v, 1, 1)
      delivered = state == 'D' or state == 'd'
      if state == 'd' then unconfirmed = 1048576 end
      by = tonumber(string.match(v, '^%a(%d+)')) or 0
      owner = state == 'd' and string.match(v, '^%a%d+~([^|]+)') or nil
    end
  end
  local lock = KEYS[n + i]
  if delivered and owner then
    out[i] = 'u' .. by .. '~' .. owner
  elseif delivered then
    out[i] = -1 - by - unconfirmed
  elseif redis.call('SET', lock, token, 'NX', 'PX', ARGV[2]) then
    -- Counted once per message (its token): a claim renewed after its lock lapsed is no new holder.
    local held = KEYS[n + m + i]
    local before = tonumber(redis.call('HGET', held, 'n') or '0')
    if redis.call('HGET', held, 't') ~= token then
      redis.call('HSET', held, 'n', before + 1, 't', token)
      redis.call('PEXPIRE', held, 3600000)
    else
      before = before - 1
    end
    if before >= crashes then out[i] = 'c' .. before else out[i] = 0 end
  elseif redis.call('GET', lock) == token then
    redis.call('PEXPIRE', lock, ARGV[2])
    out[i] = 0
  else
    out[i] = math.max(1, redis.call('PTTL', lock))
  end
end
return out
