-- uses _marks.lua
-- One event's delivered mark in a destination's delivery days, or false.
-- KEYS: the delivery days, newest first (see _marks.lua); ARGV[1]: the event id; ARGV[2]: its mark field.
local _, _, v = findMark(KEYS, ARGV[1], ARGV[2])
return v or false
