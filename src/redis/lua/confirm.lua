-- uses _marks.lua
-- Confirms delivered marks once the delivery log has their attempt records: 'd<attempt>~<owner>'
-- becomes 'D<attempt>' (a mark still 'd' when its event is read again, its owner gone, means the
-- record was lost with that process, and is written again).
-- KEYS: the destination's newest delivery days (a mark may be in yesterday's, see _marks.lua);
-- ARGV: per event its id and its mark field.
for i = 1, #ARGV, 2 do
  local key, name, v = findMark(KEYS, ARGV[i], ARGV[i + 1])
  if key and string.sub(v, 1, 1) == 'd' then
    redis.call('HSET', key, name, 'D' .. string.gsub(string.sub(v, 2), '~[^|]*', ''))
  end
end
return 1
