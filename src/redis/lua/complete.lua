-- uses _marks.lua
-- Completes a batch of attempts of one destination in one round trip: marks the delivered ones
-- and drops every in-flight lock we still own. The mark is written 'd<attempt>~<owner>' (delivered,
-- its attempt record not yet confirmed written, by the process `owner`, whose liveness key says
-- whether it may still write it); confirm.lua makes it 'D<attempt>' once the delivery log has it.
-- KEYS[1..n]: the delivery days, newest first (see _marks.lua); KEYS[n+i]: event i's lock;
-- KEYS[n+m+i] (m events): its count of claims not completed, which a completion clears.
-- ARGV[1]: the delivering process's liveness id; ARGV[2]: n; ARGV[3]: when today's marks expire (epoch ms); then per event i:
-- its id, its mark field, the attempt that delivered it ('' when it was not delivered: the lock is
-- only released), and the claim's token (the lock is dropped only if it is still that claim's).
local n = tonumber(ARGV[2])
local owned = ''
if ARGV[1] ~= '' then owned = '~' .. ARGV[1] end
local yesterday = nil
if n >= 2 then yesterday = KEYS[2] end
local bases = {}
for b = 1, n do bases[b] = KEYS[b] end
local m = (#KEYS - n) / 2
for i = 1, m do
  local id, field, attempt, token = ARGV[4 * i], ARGV[1 + 4 * i], ARGV[2 + 4 * i], ARGV[3 + 4 * i]
  if attempt ~= '' then
    -- Update the mark where it is (an event whose attempts span midnight), else add it to today.
    local key, name, v = findMark(bases, id, field)
    if key then
      local suffix = string.match(v, '|.*$') or ''
      local before = tonumber(string.match(v, '^%a(%d+)')) or 0
      redis.call('HSET', key, name, 'd' .. math.max(before, tonumber(attempt)) .. owned .. suffix)
    else
      addMark(KEYS[1], yesterday, field, 'd' .. attempt .. owned, ARGV[3])
    end
  end
  local lock = KEYS[n + i]
  if redis.call('GET', lock) == token then
    redis.call('DEL', lock)
  end
  redis.call('DEL', KEYS[n + m + i])
end
saveLayouts(bases, ARGV[3])
return 1
