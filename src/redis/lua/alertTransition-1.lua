-- One alert's state, shared by every instance: decides atomically whether this evaluation sends a
-- notice, so that N instances evaluating the same condition send one alert, not N.
-- Instances observe at slightly different moments: an observation older than the last one applied
-- is ignored, and an active alert resolves only once the condition has been seen inactive for
-- resolveAfterMs (so a view read a moment before another instance's fresher one, or a condition
-- flickering at its threshold, does not resolve and re-fire it).
-- KEYS[1] alert state hash · ARGV: active (0|1), now (ms), repeatMs, keepResolvedMs, observedAt (ms),
-- resolveAfterMs
-- Returns {action, since}: action is fire · repeat · resolve · none; since = when it fired.
local key = KEYS[1]
local active = ARGV[1] == '1'
local now = tonumber(ARGV[2])
local repeatMs = tonumber(ARGV[3])
local observedAt = tonumber(ARGV[5])
local resolveAfterMs = tonumber(ARGV[6])
local state = redis.call('HMGET', key, 'active', 'since', 'sent', 'observed', 'inactiveSince')
if state[4] and observedAt < tonumber(state[4]) then
  return {'none', tonumber(state[2] or '0')}
end
redis.call('HSET', key, 'observed', observedAt)
local wasActive = state[1] == '1'
if active then
  redis.call('HDEL', key, 'inactiveSince')
  if not wasActive then
    redis.call('HSET', key, 'active', '1', 'since', now, 'sent', now)
    redis.call('PERSIST', key)
    return {'fire', now}
  end
  if now - tonumber(state[3]) >= repeatMs then
    redis.call('HSET', key, 'sent', now)
    return {'repeat', tonumber(state[2])}
  end
  return {'none', tonumber(state[2])}
end
if wasActive then
  if not state[5] then
    redis.call('HSET', key, 'inactiveSince', observedAt)
    return {'none', tonumber(state[2])}
  end
  if observedAt - tonumber(state[5]) < resolveAfterMs then
    return {'none', tonumber(state[2])}
  end
  redis.call('HSET', key, 'active', '0', 'sent', now)
  redis.call('HDEL', key, 'inactiveSince')
  redis.call('PEXPIRE', key, tonumber(ARGV[4]))
  return {'resolve', tonumber(state[2])}
end
return {'none', 0}
